"""RFC 9457 problem details for the HTTP API, and RFC 6750 bearer challenges."""

from __future__ import annotations

from typing import Any

from flask import Response, json

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


def invalid_token(detail: str) -> Response:
    return problem(
        401,
        "Invalid token",
        detail,
        code="invalid_token",
        headers={"WWW-Authenticate": bearer_challenge("invalid_token", detail)},
    )


def missing_token() -> Response:
    return problem(
        401,
        "Authentication required",
        "Send an access token as 'Authorization: Bearer'.",
        code="invalid_token",
        headers={"WWW-Authenticate": bearer_challenge()},
    )


def insufficient_scope(detail: str) -> Response:
    return problem(
        403,
        "Outside the consent",
        detail,
        code="insufficient_scope",
        headers={"WWW-Authenticate": bearer_challenge("insufficient_scope", detail)},
    )
