"""``serdika receipt ...``: check a citizen's consent receipt offline."""

from __future__ import annotations

import click


@click.group("receipt")
def receipt_group() -> None:
    """Consent receipts."""
