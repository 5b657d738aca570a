"""The one place that reads the environment (docs/architecture.md, "Configuration")."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """The configuration cannot work; the message names the setting to fix."""


def normalise_database_url(url: str) -> str:
    """Accept a plain ``postgresql://`` URL and use the driver the broker ships (psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    ssl: bool = False
    sender: str = "Serdika <no-reply@localhost>"
    timeout: float = 10.0


def _smtp_settings(env: Mapping[str, str]) -> SmtpSettings | None:
    host = env.get("SERDIKA_SMTP_HOST")
    if not host:
        return None
    ssl = _flag(env.get("SERDIKA_SMTP_SSL"))
    try:
        port = int(env.get("SERDIKA_SMTP_PORT", "465" if ssl else "25"))
        timeout = float(env.get("SERDIKA_SMTP_TIMEOUT", "10"))
    except ValueError as exc:
        raise ConfigError("SERDIKA_SMTP_PORT and SERDIKA_SMTP_TIMEOUT must be numbers") from exc
    if env.get("SERDIKA_SMTP_PASSWORD") and not (ssl or _flag(env.get("SERDIKA_SMTP_STARTTLS"))):
        raise ConfigError(
            "SERDIKA_SMTP_PASSWORD needs SERDIKA_SMTP_SSL or SERDIKA_SMTP_STARTTLS: "
            "the password would cross the network in the clear"
        )
    return SmtpSettings(
        host=host,
        port=port,
        username=env.get("SERDIKA_SMTP_USERNAME") or None,
        password=env.get("SERDIKA_SMTP_PASSWORD") or None,
        starttls=_flag(env.get("SERDIKA_SMTP_STARTTLS")),
        ssl=ssl,
        sender=env.get("SERDIKA_MAIL_FROM", "Serdika <no-reply@localhost>"),
        timeout=timeout,
    )


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


#: OAuth security profiles (docs/security.md): ``fapi2`` is the FAPI 2.0 Security Profile,
#: ``baseline`` RFC 9700 with shared secrets and bearer tokens, for the demo and development.
SECURITY_PROFILES = ("fapi2", "baseline")


def security_profile_of(env: Mapping[str, str], production: bool) -> str:
    profile = env.get("SERDIKA_SECURITY_PROFILE", "").strip() or (
        "fapi2" if production else "baseline"
    )
    if profile not in SECURITY_PROFILES:
        raise ConfigError(
            f"SERDIKA_SECURITY_PROFILE must be one of {', '.join(SECURITY_PROFILES)}, "
            f"not {profile!r}"
        )
    return profile


#: The accessibility statement's contact until SERDIKA_ACCESSIBILITY_EMAIL names the city's.
DEFAULT_ACCESSIBILITY_EMAIL = "accessibility@sofia.example"


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    bind: str = "127.0.0.1:8000"
    issuer: str = "http://127.0.0.1:8000"
    secret_key: str | None = None
    redis_url: str | None = None
    production: bool = False
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    access_token_ttl: int = 300
    code_ttl: int = 60
    civil_registry_url: str | None = None
    # The connectors' TOML file; None: the built-in demo sources (development only).
    connectors_file: Path | None = None
    # Where the demo's Social Assistance Agency answers (demo/upstream.py), in development.
    sandbox_url: str = "http://127.0.0.1:8001"
    sign_in_max_failures_per_account: int = 5
    sign_in_max_failures_per_address: int = 20
    sign_in_window_seconds: int = 900
    max_request_bytes: int = 64 * 1024
    # The connector whose ``wards`` resource lists a parent's minor children.
    guardianship_source: str = "civil_registry"
    # Notifications by e-mail (broker/mail.py); no host: the wallet's list only.
    smtp: SmtpSettings | None = None
    notify_interval_seconds: float = 30.0
    # HTTPS served by ``serdika serve`` itself: both files, or neither.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Reverse proxies in front of the broker trusted for X-Forwarded-For/-Proto/-Host/-Port.
    trusted_proxies: int = 0
    # Where citizens write about accessibility (the wallet's accessibility statement).
    accessibility_email: str = DEFAULT_ACCESSIBILITY_EMAIL
    # The OAuth security profile (SECURITY_PROFILES): fapi2 in production unless set.
    security_profile: str = "baseline"
    # Lifetimes of a pushed authorization request's request_uri (RFC 9126, < 600 s) and of a
    # DPoP proof's iat window (RFC 9449 §11.1), in seconds.
    par_ttl: int = 60
    dpop_window_seconds: int = 60
    # Whether DPoP proofs must carry a server nonce (RFC 9449 §8, §9; SERDIKA_DPOP_NONCE).
    dpop_nonce_required: bool = False

    @property
    def fapi2(self) -> bool:
        return self.security_profile == "fapi2"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        return replace(self, **overrides)


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from the environment, then apply ``overrides`` (for tests)."""
    env = os.environ if env is None else env
    var_dir = Path(overrides.pop("var_dir", None) or env.get("SERDIKA_VAR_DIR", "var")).resolve()
    database_url = normalise_database_url(
        overrides.pop("database_url", None)
        or env.get("SERDIKA_DATABASE_URL")
        or f"sqlite:///{var_dir / 'serdika.sqlite3'}"
    )
    bind = env.get("SERDIKA_BIND", "127.0.0.1:8000")
    production = env.get("SERDIKA_ENV", "development") == "production"
    settings = Settings(
        var_dir=var_dir,
        database_url=database_url,
        bind=bind,
        issuer=env.get("SERDIKA_ISSUER", f"http://{bind}").rstrip("/"),
        secret_key=env.get("SERDIKA_SECRET_KEY"),
        redis_url=env.get("SERDIKA_REDIS_URL"),
        production=production,
        workers=int(env.get("SERDIKA_WORKERS", os.cpu_count() or 1)),
        civil_registry_url=env.get("SERDIKA_CIVIL_REGISTRY_URL"),
        connectors_file=_connectors_file(env, var_dir),
        sandbox_url=env.get("SERDIKA_SANDBOX_URL", _next_port_url(bind)).rstrip("/"),
        guardianship_source=env.get("SERDIKA_GUARDIANSHIP_SOURCE", "civil_registry"),
        smtp=_smtp_settings(env),
        notify_interval_seconds=float(env.get("SERDIKA_NOTIFY_INTERVAL", "30")),
        tls_cert_file=_path(env.get("SERDIKA_TLS_CERT_FILE")),
        tls_key_file=_path(env.get("SERDIKA_TLS_KEY_FILE")),
        trusted_proxies=_hop_count(env.get("SERDIKA_TRUSTED_PROXIES", "0")),
        accessibility_email=env.get("SERDIKA_ACCESSIBILITY_EMAIL", "").strip()
        or DEFAULT_ACCESSIBILITY_EMAIL,
        security_profile=security_profile_of(env, production),
        dpop_nonce_required=_flag(env.get("SERDIKA_DPOP_NONCE")),
        **_lifetimes(env),
    )
    settings = settings.with_overrides(overrides)
    if settings.civil_registry_url:
        settings = replace(
            settings, civil_registry_url=normalise_database_url(settings.civil_registry_url)
        )
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        raise ConfigError(
            "SERDIKA_TLS_CERT_FILE and SERDIKA_TLS_KEY_FILE go together: set both, or neither"
        )
    for name, path in (
        ("SERDIKA_TLS_CERT_FILE", settings.tls_cert_file),
        ("SERDIKA_TLS_KEY_FILE", settings.tls_key_file),
    ):
        if path is not None and not path.is_file():
            raise ConfigError(f"{name}: no such file: {path}")
    if settings.production:
        if not settings.issuer.startswith("https://"):
            raise ConfigError("SERDIKA_ISSUER must be an https:// URL in production")
        if not settings.secret_key:
            raise ConfigError("SERDIKA_SECRET_KEY must be set in production")
        if settings.connectors_file is None:
            raise ConfigError(
                "SERDIKA_CONNECTORS_FILE must name the connectors' configuration "
                "in production (see docs/connectors.md)"
            )
    return settings


def _next_port_url(bind: str) -> str:
    """The demo upstream's default: on loopback, one port above where the broker listens."""
    _, _, port = bind.rpartition(":")
    return f"http://127.0.0.1:{int(port) + 1 if port.isdigit() and int(port) < 65535 else 8001}"


def _path(value: str | None) -> Path | None:
    return Path(value).resolve() if value else None


#: Lifetimes a deployment may set, in seconds: (variable, default, least, most). A pushed
#: request lives under 600 s (RFC 9126 §2.2); codes a minute at most (RFC 9700 §4.2.1 advice).
LIFETIMES = {
    "access_token_ttl": ("SERDIKA_ACCESS_TOKEN_TTL", 300, 30, 3600),
    "code_ttl": ("SERDIKA_CODE_TTL", 60, 10, 60),
    "par_ttl": ("SERDIKA_PAR_TTL", 60, 10, 599),
    "dpop_window_seconds": ("SERDIKA_DPOP_WINDOW", 60, 5, 300),
}


def _lifetimes(env: Mapping[str, str]) -> dict[str, int]:
    values = {}
    for name, (variable, default, least, most) in LIFETIMES.items():
        raw = env.get(variable, "").strip()
        try:
            value = int(raw) if raw else default
        except ValueError:
            value = least - 1
        if not least <= value <= most:
            raise ConfigError(
                f"{variable} must be whole seconds from {least} to {most}, not {raw!r}"
            )
        values[name] = value
    return values


def _hop_count(value: str) -> int:
    """``SERDIKA_TRUSTED_PROXIES``: how many proxies in front are trusted (0: none)."""
    try:
        hops = int(value.strip())
    except ValueError:
        hops = -1
    if not 0 <= hops <= 10:
        raise ConfigError(
            f"SERDIKA_TRUSTED_PROXIES must be a number of proxies from 0 to 10, not {value!r}"
        )
    return hops


def _connectors_file(env: Mapping[str, str], var_dir: Path) -> Path | None:
    """``SERDIKA_CONNECTORS_FILE``, else ``var/connectors.toml`` when it exists."""
    named = env.get("SERDIKA_CONNECTORS_FILE")
    if named:
        return Path(named).resolve()
    default = var_dir / "connectors.toml"
    return default if default.is_file() else None
