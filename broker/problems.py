"""RFC 9457 problem details for the HTTP API, and RFC 6750 bearer challenges."""

from __future__ import annotations

from typing import Any

from flask import Response, json

from broker.oauth.rfc9449 import challenge as dpop_challenge
from broker.parts import current_broker


def problem_type(code: str) -> str:
    """The URI naming a problem type: under this broker's public address (SERDIKA_ISSUER)."""
    return f"{current_broker().settings.issuer}/problems/{code}"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """Return an ``application/problem+json`` response; ``code`` names the problem type."""
    body: dict[str, Any] = {
        "type": problem_type(code) if code else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if code:
        body["error"] = code
    body.update(extensions)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def bearer_challenge(error: str | None = None, description: str | None = None) -> str:
    """Build a ``WWW-Authenticate: Bearer`` value (RFC 6750 §3)."""
    parts = ['Bearer realm="serdika"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{_quoted(description)}"')
    return ", ".join(parts)


def challenge(scheme: str, error: str | None = None, description: str | None = None) -> str:
    """The ``WWW-Authenticate`` value for tokens of ``scheme``: ``Bearer`` (RFC 6750 §3) or
    ``DPoP`` (RFC 9449 §7.1, for DPoP-bound tokens and requests that sent the DPoP scheme)."""
    if scheme == "DPoP":
        return dpop_challenge(error, description)
    return bearer_challenge(error, description)


_TITLES = {"invalid_dpop_proof": "Invalid DPoP proof", "use_dpop_nonce": "DPoP nonce required"}


def invalid_token(
    detail: str,
    *,
    scheme: str = "Bearer",
    error: str = "invalid_token",
    headers: dict[str, str] | None = None,
) -> Response:
    """401 for an unusable token (or, with ``error="invalid_dpop_proof"`` or
    ``"use_dpop_nonce"``, an unusable DPoP proof, RFC 9449 §7.1 and §9)."""
    return problem(
        401,
        _TITLES.get(error, "Invalid token"),
        detail,
        code=error,
        headers={"WWW-Authenticate": challenge(scheme, error, detail), **(headers or {})},
    )


def missing_token() -> Response:
    return problem(
        401,
        "Authentication required",
        "Send an access token as 'Authorization: Bearer'.",
        code="invalid_token",
        headers={"WWW-Authenticate": bearer_challenge()},
    )


def insufficient_scope(detail: str, *, scheme: str = "Bearer") -> Response:
    return problem(
        403,
        "Outside the consent",
        detail,
        code="insufficient_scope",
        headers={"WWW-Authenticate": challenge(scheme, "insufficient_scope", detail)},
    )
