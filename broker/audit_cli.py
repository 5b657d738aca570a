"""``serdika audit ...``: export the ledger, verify it offline or live."""

from __future__ import annotations

import click


@click.group("audit")
def audit_group() -> None:
    """Export and verify the consent ledger."""
