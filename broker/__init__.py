"""The composition root: ``create_app`` builds the broker and the wallet."""

from broker.app import create_app

__all__ = ["create_app"]
