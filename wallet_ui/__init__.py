"""The citizen's wallet: sign-in, the consent page, the list of consents, revocation.

The host builds a :class:`WalletParts` and calls :func:`init_wallet`; it gets back a
:class:`Wallet` (the error pages and the e-mails the wallet writes).
"""

from wallet_ui.ports import WalletParts
from wallet_ui.setup import Wallet, init_wallet

__all__ = ["Wallet", "WalletParts", "init_wallet"]
