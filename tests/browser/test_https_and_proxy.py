"""The wallet over HTTPS, as a city deploys it: TLS served by ``serdika serve`` itself, and TLS
ended by a real nginx in front of the broker (``SERDIKA_TRUSTED_PROXIES=1``).

A citizen signs in, allows a request and withdraws it in Chromium; every form goes through
Flask-WTF's strict HTTPS referrer check. Behind nginx, the sign-in limits count each client's
own address (clients on 127.0.0.2 and 127.0.0.3), never the proxy's. The certificate is made by
the test. nginx is Debian's (``.ci/run`` installs it); without it the nginx half is skipped on a
developer's machine and fails under CI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

from tests.browser.conftest import allow
from tests.e2e.harness import RealServer, Service, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HSTS = "max-age=63072000; includeSubDomains"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: its own CA, for the clients."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Serdika test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory,
               certificate: tuple[Path, Path]) -> Iterator[RealServer]:
    base = tmp_path_factory.mktemp("https")
    server = RealServer(database_url=f"sqlite:///{base / 'serdika.sqlite3'}",
                        var_dir=base / "var", log_path=base / "server.log", workers=2,
                        tls=certificate)
    with server.serving():
        yield server


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Port $server_port;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory: pytest.TempPathFactory,
                 certificate: tuple[Path, Path]) -> Iterator[RealServer]:
    if not Path(NGINX).exists():
        if os.environ.get("CI"):
            pytest.fail("the proxy tests need nginx under CI (.ci/run installs it)")
        pytest.skip("nginx is not installed")
    work = tmp_path_factory.mktemp("nginx")
    work.chmod(0o755)
    port = free_port()
    server = RealServer(database_url=f"sqlite:///{work / 'serdika.sqlite3'}",
                        var_dir=work / "var", log_path=work / "server.log", workers=2,
                        public_url=f"https://127.0.0.1:{port}",
                        extra_env={"SERDIKA_TRUSTED_PROXIES": "1"})
    (work / "nginx.conf").write_text(NGINX_CONF.format(
        work=work, port=port, upstream=server.port, cert=certificate[0], key=certificate[1]))
    server.prepare()
    server.start()
    nginx = subprocess.Popen([NGINX, "-c", str(work / "nginx.conf"), "-p", str(work)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        _wait_for(f"{server.base_url}/readyz", str(certificate[0]), nginx, work)
        yield server
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        server.stop()


def _wait_for(url: str, verify: str, nginx: subprocess.Popen[bytes], work: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if nginx.poll() is not None:
            raise RuntimeError(f"nginx exited: {(work / 'error.log').read_text()}")
        try:
            if requests.get(url, timeout=2, verify=verify).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nginx did not answer: {(work / 'error.log').read_text()}")


def _withdraw_in_the_browser(chromium: Any, server: RealServer, ca: Path) -> None:
    """Sign in, allow, withdraw: every wallet form, over HTTPS, in Chromium."""
    citizen = server.demo["citizens"][0]
    service = Service(server.base_url, server.demo["services"][0], verify=str(ca))
    # The certificate is the test's own; Chromium is told to take it, nothing else is skipped.
    context = chromium.new_context(base_url=server.base_url, ignore_https_errors=True)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        first = page.goto("/wallet/")
        assert first is not None and first.url.startswith(server.base_url + "/wallet/sign-in")
        consent_id = allow(page, service, citizen)
        assert service.read().status_code == 200
        page.goto(f"/wallet/consents/{consent_id}")
        page.click("form[action$='/revoke'] button[type=submit]")
        page.wait_for_load_state()
        assert f"/wallet/consents/{consent_id}/withdrawn" in page.url
        assert service.read().status_code == 401
        cookies = {cookie["name"]: cookie for cookie in context.cookies()}
        assert cookies["__Host-serdika"]["secure"] is True
    finally:
        context.close()


def test_every_wallet_form_works_over_https_served_by_the_broker(chromium, tls_server,
                                                                certificate):
    _withdraw_in_the_browser(chromium, tls_server, certificate[0])
    page = requests.get(f"{tls_server.base_url}/wallet/sign-in", verify=tls_server.verify,
                        timeout=10)
    assert page.headers["Strict-Transport-Security"] == HSTS
    assert page.headers["Referrer-Policy"] == "same-origin"


def test_every_wallet_form_works_behind_nginx_ending_tls(chromium, behind_nginx, certificate):
    _withdraw_in_the_browser(chromium, behind_nginx, certificate[0])
    page = requests.get(f"{behind_nginx.base_url}/wallet/sign-in", verify=str(certificate[0]),
                        timeout=10)
    assert page.headers["Strict-Transport-Security"] == HSTS  # the forwarded scheme, trusted


class FromAddress(HTTPAdapter):
    """Connections from one loopback address, as if from another machine."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _client(address: str, ca: Path) -> requests.Session:
    session = requests.Session()
    session.mount("https://", FromAddress(address))
    session.verify = str(ca)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test's own CA
    return session


def _sign_in(session: requests.Session, base_url: str, username: str, password: str) -> int:
    page = session.get(f"{base_url}/wallet/sign-in", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, page.text
    answer = session.post(f"{base_url}/wallet/sign-in", timeout=10, allow_redirects=False,
                          headers={"Referer": f"{base_url}/wallet/sign-in"},
                          data={"username": username, "password": password,
                                "csrf_token": token.group(1)})
    return answer.status_code


def test_behind_nginx_the_limits_count_each_clients_own_address(behind_nginx, certificate):
    base = behind_nginx.base_url
    attacker = _client("127.0.0.2", certificate[0])
    citizen_machine = _client("127.0.0.3", certificate[0])
    limit = 20  # sign_in_max_failures_per_address
    failures = [_sign_in(attacker, base, f"guess_{n}", "wrong password") for n in range(limit)]
    assert failures == [401] * limit
    assert _sign_in(attacker, base, "guess_more", "wrong password") == 429
    citizen = behind_nginx.demo["citizens"][1]
    assert _sign_in(citizen_machine, base, citizen["username"], citizen["password"]) == 302
