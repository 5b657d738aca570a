"""OAuth error descriptions that Authlib can always send."""

from __future__ import annotations


def safe_description(text: str) -> str:
    """Make ``text`` fit RFC 6749's ``error_description`` set (%x20-21 / %x23-5B / %x5D-7E).

    Descriptions quote what the client sent; Authlib's ``OAuth2Error`` raises ``ValueError``
    (a 500) for any other character, such as Cyrillic, a quote or a control character.
    """
    return "".join(char if " " <= char <= "~" and char not in '"\\' else "?" for char in text)
