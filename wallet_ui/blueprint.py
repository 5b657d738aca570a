"""The wallet's blueprint: every page module adds its routes and template helpers to it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint(
    "wallet",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/wallet/static",
)
