"""The application factory and the object that holds one broker's parts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask, Request, Response, json, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from broker.api.read_ports import read_ports
from broker.cli import register_commands
from broker.config import Settings, load_settings
from broker.db import Database
from broker.guardians import Guardians
from broker.keys import load_keys
from broker.mail import MAIL_RENDERER
from broker.own_data import OwnDataReader
from broker.parts import EXTENSION, Broker
from broker.problems import problem
from broker.sequencer import current_head
from broker.sources import build_connectors
from commons.clock import CITY_TIMEZONE
from consent.lifecycle import DomainContext
from consent.receipts import ReceiptSigner
from wallet_ui import WalletParts, init_wallet

log = logging.getLogger(__name__)


def build_broker(settings: Settings) -> Broker:
    """Build the parts without a Flask app (for the CLI and scripts)."""
    keys = load_keys(settings)
    db = Database(settings.database_url)
    connectors = build_connectors(settings, keys.secret_key, db.engine)
    return Broker(
        settings=settings,
        db=db,
        keys=keys,
        connectors=connectors,
        domain=DomainContext(
            keys.keyring, ReceiptSigner(keys.signing_key, keys.key_id, settings.issuer)
        ),
        own_data=OwnDataReader(connectors, keys.keyring),
        guardians=Guardians(connectors, keys.keyring, settings.guardianship_source),
        reads=read_ports(db, keys.keyring, connectors),
    )


def _wallet_parts(broker: Broker, oauth: Any) -> WalletParts:
    """What the wallet works through: the broker's parts behind the wallet's ports."""
    return WalletParts(
        db=broker.db,
        settings=broker.settings,
        keys=broker.keys,
        sources=broker.connectors,
        domain=broker.domain,
        oauth=oauth,
        guardians=broker.guardians,
        own_data=broker.own_data,
        current_head=partial(current_head, broker),
    )


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the broker: settings from the environment, then ``config`` overrides."""
    config = dict(config or {})
    settings = config.pop("settings", None) or load_settings(**config.pop("serdika", {}))
    broker = build_broker(settings)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=broker.keys.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_request_bytes,
        SESSION_COOKIE_NAME="__Host-serdika" if settings.issuer.startswith("https") else "serdika",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.issuer.startswith("https"),
        PERMANENT_SESSION_LIFETIME=8 * 3600,
        # No cookie work on API routes: the wallet cookie is written only when it changes.
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=3600,
        JSON_SORT_KEYS=False,
        # Citizens read times on Sofia's clock; everything is stored and exported in UTC.
        BABEL_DEFAULT_TIMEZONE=CITY_TIMEZONE,
    )
    app.config.update(config)
    app.session_interface = WalletOnlySessionInterface()
    if settings.trusted_proxies:
        # The client's address, scheme and host as the trusted proxies saw them: sign-in
        # limits count the citizen's address, never the balancer's; 0 ignores the headers.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    app.extensions[EXTENSION] = broker
    broker.db.init_app(app)

    csrf = CSRFProtect(app)

    from broker.api.audit import bp as audit_bp
    from broker.api.erasure_requests import bp as erasure_bp
    from broker.api.grants import bp as grants_bp
    from broker.api.views import bp as api_bp
    from broker.oauth import init_oauth

    oauth = init_oauth(app, broker)
    app.register_blueprint(api_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(erasure_bp)
    app.register_blueprint(grants_bp)
    for name in (
        "token_endpoint",
        "pushed_authorization_request_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ):
        csrf.exempt(app.view_functions[name])
    csrf.exempt(api_bp)
    csrf.exempt(audit_bp)
    csrf.exempt(erasure_bp)
    csrf.exempt(grants_bp)
    wallet = init_wallet(app, _wallet_parts(broker, oauth))
    app.extensions[MAIL_RENDERER] = wallet.render_mail
    _register_health(app, broker)
    _register_errors(app, wallet.error_page)
    _register_security_headers(app)
    register_commands(app)
    return app


MACHINE_PATHS = (
    "/api/",
    "/oauth2/token",
    "/oauth2/introspect",
    "/oauth2/revoke",
    "/.well-known/",
    "/healthz",
    "/readyz",
)


class WalletOnlySessionInterface(SecureCookieSessionInterface):
    """Cookie sessions for the wallet only: API and token endpoints do no cookie work.

    Services never hold a wallet session, and deriving the cookie signer on every API call
    cost measurable throughput on the hot paths (docs/architecture.md, "Performance").
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(MACHINE_PATHS):
            return self.make_null_session(app)
        return super().open_session(app, request)


def _register_health(app: Flask, broker: Broker) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', mimetype="application/json")

    @app.get("/readyz")
    def readyz() -> Response:
        try:
            with broker.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any failure of the store means "not ready"
            log.exception("readiness check failed")
            return problem(
                503, "Not ready", "The database does not answer.", headers={"Retry-After": "5"}
            )
        return Response('{"status":"ready"}', mimetype="application/json")


def _wants_json() -> bool:
    path = request.path
    return path.startswith(("/api/", "/oauth2/", "/.well-known/")) or path in (
        "/healthz",
        "/readyz",
    )


def _register_errors(app: Flask, html_error: Callable[[int], Response]) -> None:
    """Machine paths get JSON problems; every other path gets the wallet's page."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if _wants_json():
            if request.path.startswith("/oauth2/") and request.path != "/oauth2/authorize":
                body = {"error": "invalid_request", "error_description": error.description}
                return Response(
                    json.dumps(body), status=error.code or 400, mimetype="application/json"
                )
            return problem(error.code or 500, error.name, error.description)
        return html_error(error.code or 500)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json():
            return problem(500, "Internal error", "Something failed on our side.")
        return html_error(500)


CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; form-action 'self' {form_action}; frame-ancestors 'none'; "
    "base-uri 'none'"
)


#: Two years, as the HSTS preload list asks; sent only on responses served over HTTPS.
HSTS = "max-age=63072000; includeSubDomains"


def _register_security_headers(app: Flask) -> None:
    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        # Same-origin referrers only: Flask-WTF's HTTPS check needs the wallet's own forms to
        # carry one, and no other site ever learns a wallet or authorization URL.
        headers.setdefault("Referrer-Policy", "same-origin")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if response.mimetype == "text/html":
            # The consent form redirects to the service, so form-action admits its origin.
            headers.setdefault(
                "Content-Security-Policy",
                CSP.format(form_action=response.headers.get("X-Serdika-Form-Action", "")).replace(
                    "  ", " "
                ),
            )
            headers.pop("X-Serdika-Form-Action", None)
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Cache-Control", "no-store")
        return response
