"""Deployment settings: HTTPS files, trusted proxies, and the headers for the open internet.

The real thing (gunicorn serving TLS, Chromium over HTTPS, nginx in front) is driven by
tests/e2e/test_https_and_proxy.py; here the settings and the app's reading of forwarded
headers are checked through Flask's client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import url_for

from broker import create_app
from broker.config import ConfigError, load_settings, security_profile_of
from broker.serve import gunicorn_options
from tests.flows import create_citizen, csrf_token


def _settings(tmp_path: Path, **env: str) -> Any:
    return load_settings(env={"SERDIKA_VAR_DIR": str(tmp_path), **env})


@pytest.mark.parametrize("value", ["-1", "eleven", "11", "1.5", ""])
def test_a_trusted_proxy_count_must_be_a_small_number(tmp_path, value):
    with pytest.raises(ConfigError, match="SERDIKA_TRUSTED_PROXIES"):
        _settings(tmp_path, SERDIKA_TRUSTED_PROXIES=value)


def test_no_proxy_is_trusted_by_default(tmp_path):
    assert _settings(tmp_path).trusted_proxies == 0
    assert _settings(tmp_path, SERDIKA_TRUSTED_PROXIES=" 2 ").trusted_proxies == 2


def test_the_tls_files_go_together_and_must_exist(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("not checked here")
    with pytest.raises(ConfigError, match="set both, or neither"):
        _settings(tmp_path, SERDIKA_TLS_CERT_FILE=str(cert))
    with pytest.raises(ConfigError, match="SERDIKA_TLS_KEY_FILE: no such file"):
        _settings(tmp_path, SERDIKA_TLS_CERT_FILE=str(cert),
                  SERDIKA_TLS_KEY_FILE=str(tmp_path / "missing.pem"))
    key = tmp_path / "key.pem"
    key.write_text("not checked here")
    settings = _settings(tmp_path, SERDIKA_TLS_CERT_FILE=str(cert),
                         SERDIKA_TLS_KEY_FILE=str(key))
    assert (settings.tls_cert_file, settings.tls_key_file) == (cert, key)


def test_gunicorn_serves_tls_only_when_asked_and_trusts_no_forwarded_header(tmp_path):
    plain = gunicorn_options("127.0.0.1:0", 1)
    assert "certfile" not in plain and "keyfile" not in plain
    assert plain["secure_scheme_headers"] == {}
    secure = gunicorn_options("127.0.0.1:0", 1, tls=(tmp_path / "c.pem", tmp_path / "k.pem"))
    assert (secure["certfile"], secure["keyfile"]) == (str(tmp_path / "c.pem"),
                                                       str(tmp_path / "k.pem"))


@pytest.fixture
def behind_one_proxy(settings: Any) -> Any:
    application = create_app({"settings": settings.with_overrides({"trusted_proxies": 1}),
                              "TESTING": True})
    yield application
    application.extensions["serdika"].db.dispose()


def _fail_sign_ins(client: Any, username: str, times: int, address: str = "127.0.0.1",
                   **headers: str) -> list[int]:
    """Fail to sign in; ``address`` is the socket's (the test client's REMOTE_ADDR)."""
    where = {"headers": headers, "environ_overrides": {"REMOTE_ADDR": address}}
    statuses = []
    for _ in range(times):
        page = client.get("/wallet/sign-in", **where)
        statuses.append(client.post("/wallet/sign-in", **where, data={
            "username": username, "password": "not the password",
            "csrf_token": csrf_token(page.get_data(as_text=True))}).status_code)
    return statuses


def _signs_in(client: Any, citizen: dict[str, Any], **headers: str) -> bool:
    page = client.get("/wallet/sign-in", headers=headers)
    response = client.post("/wallet/sign-in", headers=headers, data={
        "username": citizen["username"], "password": citizen["password"],
        "csrf_token": csrf_token(page.get_data(as_text=True))})
    return response.status_code == 302


def test_behind_a_trusted_proxy_the_limits_count_the_clients_address(behind_one_proxy, broker):
    limit = broker.settings.sign_in_max_failures_per_address
    # Failures for many accounts from one address, as the proxy reports it ...
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for n in range(limit):
        _fail_sign_ins(behind_one_proxy.test_client(), f"nobody_{n}", 1, **attacker)
    assert _fail_sign_ins(behind_one_proxy.test_client(), "nobody_else", 1, **attacker) == [429]
    # ... never keep a citizen out who comes from another address through the same proxy.
    citizen = create_citizen(broker)
    assert _signs_in(behind_one_proxy.test_client(), citizen,
                     **{"X-Forwarded-For": "198.51.100.20"})


def test_without_trusted_proxies_forwarded_headers_are_ignored(client, broker):
    limit = broker.settings.sign_in_max_failures_per_address
    # The socket's address is what counts, whatever a client claims to be (an address of its
    # own, so that no other test is kept out).
    statuses = [
        _fail_sign_ins(client.application.test_client(), f"spoofer_{n}", 1, "192.0.2.99",
                       **{"X-Forwarded-For": f"192.0.2.{n}"})[0]
        for n in range(limit + 1)
    ]
    assert statuses == [401] * limit + [429]
    blocked = client.application.test_client()
    page = blocked.get("/wallet/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert page.status_code == 200
    assert "Strict-Transport-Security" not in page.headers  # still plain HTTP to the app


def test_the_forwarded_scheme_of_a_trusted_proxy_makes_the_answer_https(behind_one_proxy):
    page = behind_one_proxy.test_client().get("/wallet/sign-in",
                                              headers={"X-Forwarded-Proto": "https"})
    assert page.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    assert page.headers["Referrer-Policy"] == "same-origin"


def test_plain_http_gets_no_hsts_and_a_same_origin_referrer_policy(client):
    page = client.get("/wallet/sign-in")
    assert "Strict-Transport-Security" not in page.headers
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_the_front_door_leads_to_the_wallet(client):
    response = client.get("/")
    assert response.status_code == 302
    with client.application.test_request_context():
        assert response.headers["Location"] == url_for("wallet.home")
    assert client.get("/", follow_redirects=True).request.path == "/wallet/sign-in"


def test_the_demo_upstream_follows_the_brokers_port(tmp_path):
    assert _settings(tmp_path).sandbox_url == "http://127.0.0.1:8001"
    assert _settings(tmp_path, SERDIKA_BIND="127.0.0.1:9000").sandbox_url == (
        "http://127.0.0.1:9001")
    assert _settings(tmp_path, SERDIKA_BIND="0.0.0.0:8080").sandbox_url == (
        "http://127.0.0.1:8081")
    assert _settings(tmp_path, SERDIKA_BIND="unix:/run/serdika.sock").sandbox_url == (
        "http://127.0.0.1:8001")


def test_the_security_profile_is_fapi2_in_production_and_baseline_elsewhere(tmp_path):
    assert _settings(tmp_path).security_profile == "baseline"
    assert security_profile_of({}, production=True) == "fapi2"
    assert security_profile_of({"SERDIKA_SECURITY_PROFILE": "baseline"}, production=True) == (
        "baseline")
    assert _settings(tmp_path, SERDIKA_SECURITY_PROFILE="fapi2").fapi2
    with pytest.raises(ConfigError, match="SERDIKA_SECURITY_PROFILE"):
        _settings(tmp_path, SERDIKA_SECURITY_PROFILE="fapi1")


def test_the_metadata_names_the_security_profile(client):
    document = client.get("/.well-known/oauth-authorization-server").get_json()
    assert document["serdika_security_profile"] == "baseline"


def test_lifetimes_are_configurable_within_their_bounds(tmp_path):
    default = _settings(tmp_path)
    assert (default.access_token_ttl, default.code_ttl, default.par_ttl,
            default.dpop_window_seconds) == (300, 60, 60, 60)
    chosen = _settings(tmp_path, SERDIKA_ACCESS_TOKEN_TTL="120", SERDIKA_CODE_TTL="30",
                       SERDIKA_PAR_TTL="90", SERDIKA_DPOP_WINDOW="30")
    assert (chosen.access_token_ttl, chosen.code_ttl, chosen.par_ttl,
            chosen.dpop_window_seconds) == (120, 30, 90, 30)
    for variable, value in (("SERDIKA_PAR_TTL", "600"), ("SERDIKA_CODE_TTL", "3600"),
                            ("SERDIKA_ACCESS_TOKEN_TTL", "five"), ("SERDIKA_DPOP_WINDOW", "0")):
        with pytest.raises(ConfigError, match=variable):
            _settings(tmp_path, **{variable: value})
