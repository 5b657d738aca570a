"""A sign-in's browser and system, told from its User-Agent header in a few words.

Only this short description is stored with the session (``Firefox 128``, ``Windows``): never
the header itself, which says more about the citizen's device than they need to tell us.
"""

from __future__ import annotations

from dataclasses import dataclass

from ua_parser import parse

#: The longest header read: a real browser's is a few hundred characters.
LONGEST_HEADER = 512
#: The longest name kept, as stored (``wallet_sessions.browser`` and ``.system``).
LONGEST_NAME = 40


@dataclass(frozen=True)
class Device:
    """The browser (with its major version) and the operating system; None when not told."""

    browser: str | None
    system: str | None


def _name(*parts: str | None) -> str | None:
    words = " ".join(part for part in parts if part)
    if not words or words.startswith("Other") or not words.isprintable():
        return None
    return words[:LONGEST_NAME]


def describe(user_agent: str | None) -> Device:
    """Tell the browser and the system from a User-Agent header (None: nothing known)."""
    if not user_agent:
        return UNKNOWN_DEVICE
    found = parse(user_agent[:LONGEST_HEADER])
    browser = _name(found.user_agent.family, found.user_agent.major) if found.user_agent else None
    system = _name(found.os.family) if found.os else None
    return Device(browser, system)


#: A sign-in whose browser said nothing of itself.
UNKNOWN_DEVICE = Device(None, None)
