"""Wallet sign-in state: server-side sessions (failures are counted in consent.failures)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.models import Base
from consent.types import BigIntegerId, UTCDateTime, int_pk


class WalletSession(Base):
    """A signed-in browser; the cookie holds a random id, the table only its hash."""

    __tablename__ = "wallet_sessions"

    id: Mapped[int_pk]
    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    subject_id: Mapped[int] = mapped_column(
        BigIntegerId, ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When the browser last used the wallet (moved at most every few minutes; see auth).
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The browser and system in a few words (wallet_ui.devices), never the User-Agent itself.
    browser: Mapped[str | None] = mapped_column(String(40))
    system: Mapped[str | None] = mapped_column(String(40))
