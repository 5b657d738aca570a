"""The real broker as a subprocess, and real clients driving it over HTTP.

Shared by the end-to-end tests and ``benchmarks/`` (so it imports nothing from pytest):

* :class:`RealServer` runs ``serdika db upgrade``, ``serdika demo seed --json`` and
  ``serdika serve`` with the given environment, its output captured to a file;
* :class:`Browser` is the citizen's browser, a :class:`requests.Session` posting the wallet's
  forms;
* :class:`Service` is the municipal service, Authlib's ``OAuth2Session`` (client_secret_basic,
  PKCE S256, RFC 9396 ``authorization_details``).
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session

REDIRECT_URI = "http://127.0.0.1:9001/callback"  # registered by the demo seed; nobody listens
PERSON_URL = "/api/v1/data/civil_registry/person"


def person_details(fields: list[str] | None = None,
                   purpose: str = "kindergarten_enrolment") -> list[dict[str, Any]]:
    return [{
        "type": "personal_data", "connector": "civil_registry", "resource": "person",
        "fields": fields or ["given_name", "family_name", "birth_date", "address"],
        "actions": ["read"], "purpose": purpose, "duration": "P90D",
    }]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serdika_command() -> str:
    """The ``serdika`` console script of the interpreter running us (the project's venv)."""
    beside = Path(sys.executable).parent / "serdika"
    if beside.exists():
        return str(beside)
    found = shutil.which("serdika")
    if found is None:
        raise RuntimeError("the serdika console script is not installed")
    return found


def server_env(database_url: str, var_dir: Path, port: int,
               issuer: str | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("SERDIKA_")}
    env.update({
        "SERDIKA_DATABASE_URL": database_url,
        "SERDIKA_VAR_DIR": str(var_dir),
        "SERDIKA_BIND": f"127.0.0.1:{port}",
        "SERDIKA_ISSUER": issuer or f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run([serdika_command(), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"serdika {' '.join(args)} failed ({done.returncode}):\n"
                           f"{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass
class RealServer:
    """``serdika serve`` on a free loopback port, with a migrated and seeded database."""

    database_url: str
    var_dir: Path
    log_path: Path
    workers: int = 2
    port: int = field(default_factory=free_port)
    demo: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    #: (certificate, key): ``serdika serve`` speaks HTTPS itself.
    tls: tuple[Path, Path] | None = None
    #: The public URL when a proxy stands in front (the issuer); else the server's own.
    public_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def own_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.public_url or self.own_url

    @property
    def verify(self) -> str | bool:
        """What a client checks the server's certificate against (the test's own CA)."""
        return str(self.tls[0]) if self.tls else True

    @property
    def env(self) -> dict[str, str]:
        env = server_env(self.database_url, self.var_dir, self.port, self.base_url)
        if self.tls:
            env["SERDIKA_TLS_CERT_FILE"], env["SERDIKA_TLS_KEY_FILE"] = map(str, self.tls)
        env.update(self.extra_env)
        return env

    def prepare(self) -> dict[str, Any]:
        run_cli(self.env, "db", "upgrade")
        self.demo = json.loads(run_cli(self.env, "demo", "seed", "--json"))
        return self.demo

    def start(self, ready_timeout: float = 60) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            # Its own process group, so teardown can reach the workers as well.
            self.process = subprocess.Popen(
                [serdika_command(), "serve", "--workers", str(self.workers)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n"
                                   f"{self.log()}")
            try:
                ready = requests.get(f"{self.own_url}/readyz", timeout=2, verify=self.verify)
                if ready.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server was not ready within {ready_timeout}s:\n{self.log()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # gunicorn: graceful shutdown of the workers
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group we created in start()
            process.wait(timeout=10)

    @contextmanager
    def serving(self) -> Iterator[RealServer]:
        """Prepare the installation, serve it for the block, then stop."""
        self.prepare()
        try:
            self.start()
            yield self
        finally:
            self.stop()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


# --- the citizen's browser ------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FIELDS = re.compile(r'name="fields" value="([^"]+)"')
_NEXT = re.compile(r'name="next" value="([^"]*)"')


def _form_action(page: str, contains: str = "") -> str:
    for action in re.findall(r'<form[^>]*\baction="([^"]*)"', page):
        if contains in html.unescape(action):
            return html.unescape(action)
    raise AssertionError(f"no form posting to {contains!r} on the page")


def _csrf(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "the page carries a CSRF token"
    return html.unescape(match.group(1))


class Browser:
    """A citizen with a browser: cookies, forms, redirects followed within the broker only."""

    def __init__(self, base_url: str, citizen: dict[str, Any]) -> None:
        self.base_url = base_url
        self.citizen = citizen
        self.http = requests.Session()

    def _url(self, target: str) -> str:
        return urljoin(self.base_url + "/", target)

    def consent(self, authorization_url: str, decision: str = "allow",
                fields: list[str] | None = None) -> str:
        """Open the service's link, sign in, answer the consent page; return ``Location``."""
        page = self.http.get(authorization_url, timeout=10)  # redirects to the sign-in page
        assert page.status_code == 200, page.text
        if "/wallet/sign-in" in urlsplit(page.url).path:
            next_match = _NEXT.search(page.text)
            assert next_match, "the sign-in form carries where to go next"
            signed_in = self.http.post(
                self._url(_form_action(page.text, "/wallet/sign-in")),
                data={"username": self.citizen["username"],
                      "password": self.citizen["password"],
                      "csrf_token": _csrf(page.text),
                      "next": html.unescape(next_match.group(1))},
                allow_redirects=False, timeout=10)
            assert signed_in.status_code == 302, signed_in.text
            page = self.http.get(self._url(signed_in.headers["Location"]), timeout=10)
            assert page.status_code == 200, page.text
        assert "/oauth2/authorize" in page.url, page.url
        offered = [html.unescape(value) for value in _FIELDS.findall(page.text)]
        # A parent is asked whose data it is, nobody chosen for them: the citizen themself.
        whose = {"subject": "me"} if 'name="subject"' in page.text else {}
        answer = self.http.post(
            self._url(_form_action(page.text, "/oauth2/authorize")),
            data={"csrf_token": _csrf(page.text), "decision": decision,
                  "fields": offered if fields is None else fields, **whose},
            allow_redirects=False, timeout=10)  # nobody listens at the service's redirect URI
        assert answer.status_code in (302, 303), answer.text
        return str(answer.headers["Location"])

    def revoke(self, consent_id: str) -> requests.Response:
        page = self.http.get(self._url(f"/wallet/consents/{consent_id}"), timeout=10)
        assert page.status_code == 200, page.text
        action = _form_action(page.text, f"/wallet/consents/{consent_id}/revoke")
        response = self.http.post(self._url(action), data={"csrf_token": _csrf(page.text)},
                                  allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        return response


# --- the service ----------------------------------------------------------------------------

class Service:
    """A service using Authlib's OAuth 2.0 client against the broker's endpoints."""

    def __init__(self, base_url: str, service: dict[str, Any], verify: str | bool = True) -> None:
        self.base_url = base_url
        self.registration = service
        self.oauth = OAuth2Session(
            client_id=service["client_id"], client_secret=service["client_secret"],
            token_endpoint_auth_method="client_secret_basic",
            redirect_uri=REDIRECT_URI, code_challenge_method="S256",
        )
        self.oauth.verify = verify
        # REQUESTS_CA_BUNDLE would replace a session's own CA: loopback needs no environment.
        self.oauth.trust_env = verify is True
        self.verifier = secrets.token_urlsafe(48)
        self.state = ""

    def authorization_url(self, details: list[dict[str, Any]]) -> str:
        url, self.state = self.oauth.create_authorization_url(
            f"{self.base_url}/oauth2/authorize", code_verifier=self.verifier,
            authorization_details=json.dumps(details))
        return str(url)

    def code_from(self, location: str) -> str:
        assert location.startswith(REDIRECT_URI + "?"), location
        query = parse_qs(urlsplit(location).query)
        assert query.get("state") == [self.state], query
        assert "error" not in query, query
        return query["code"][0]

    def fetch_token(self, code: str) -> dict[str, Any]:
        return dict(self.oauth.fetch_token(f"{self.base_url}/oauth2/token", code=code,
                                           code_verifier=self.verifier))

    def read(self, path: str = PERSON_URL) -> requests.Response:
        return self.oauth.get(f"{self.base_url}{path}", timeout=10)

    def introspect(self, token: str, hint: str | None = None) -> dict[str, Any]:
        response = self.oauth.introspect_token(f"{self.base_url}/oauth2/introspect",
                                               token=token, token_type_hint=hint, timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return dict(self.oauth.refresh_token(f"{self.base_url}/oauth2/token",
                                             refresh_token=refresh_token))


def obtain_token(base_url: str, service: dict[str, Any], citizen: dict[str, Any],
                 details: list[dict[str, Any]] | None = None) -> tuple[Service, dict[str, Any]]:
    """The whole consent flow: the service's link, the citizen's allow, the code exchange."""
    client = Service(base_url, service)
    location = Browser(base_url, citizen).consent(
        client.authorization_url(details or person_details(purpose=service["purposes"][0])))
    return client, client.fetch_token(client.code_from(location))
