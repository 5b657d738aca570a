"""The ``serdika`` commands (docs/architecture.md, "CLI"); ``flask --app broker`` finds them too."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from broker.audit_cli import audit_group
from broker.keys_cli import keys_group
from broker.parts import current_broker
from broker.receipt_cli import receipt_group
from consent.accounts import AccountError, create_subject
from consent.catalogue import RegistrationError, register_service
from consent.lifecycle import expire_due_consents
from consent.types import utcnow


def _emit(data: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for key, value in data.items() if isinstance(data, dict) else enumerate(data):
            click.echo(f"{key}: {value}")


@click.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Run the migrations up to REVISION."""
    from broker.migrate import current_revision, upgrade

    url = current_broker().settings.database_url
    before = current_revision(url)
    upgrade(url, revision)
    after = current_revision(url)
    if before is None:
        click.echo(f"database created (revision {after})", err=True)
    elif before == after:
        click.echo(f"database is up to date (revision {after})", err=True)
    else:
        click.echo(f"database upgraded from revision {before} to {after}", err=True)


@click.group("demo")
def demo_group() -> None:
    """Demo data."""


@demo_group.command("seed")
@click.option("--json", "as_json", is_flag=True, help="Print the logins as JSON.")
@click.option(
    "--if-new",
    is_flag=True,
    help="Only into a database that is empty or holds the demo already (used by make run).",
)
@with_appcontext
def demo_seed(as_json: bool, if_new: bool) -> None:
    """Create the demo citizens, services, auditor and registry data (idempotent)."""
    from broker.sources import demo_sources
    from demo.seed import holds_other_data, seed

    broker = current_broker()
    with broker.db.sessions() as session:
        if if_new and holds_other_data(session):
            click.echo("The database holds data of its own: no demo data added.", err=True)
            return
        session.commit()  # end the read, so the seed's writes start from the latest state
        result = seed(
            session,
            secret_key=broker.keys.secret_key,
            keyring=broker.keys.keyring,
            sources=demo_sources(broker.settings, broker.connectors),
            var_dir=broker.settings.var_dir,
        )
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo("Demo citizens (username / password):")
    for citizen in result["citizens"]:
        click.echo(f"  {citizen['username']} / {citizen['password']}")
    click.echo("Demo services (client_id / client_secret, redirect URI):")
    for service in result["services"]:
        redirects = ", ".join(service["redirect_uris"])
        # A private_key_jwt service has a key file instead of a secret.
        credential = service.get("client_secret") or f"private key {service['private_key_file']}"
        click.echo(f"  {service['client_id']} / {credential}, {redirects}")
    click.echo("Demo auditors (client_id / client_secret):")
    for auditor in result["auditors"]:
        click.echo(f"  {auditor['client_id']} / {auditor['client_secret']}")


@demo_group.command("load")
@click.option(
    "--entries",
    type=click.IntRange(min=0),
    required=True,
    help="How many synthetic data:read entries to append.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Entries per write transaction.",
)
@click.option(
    "--no-sequence", is_flag=True, help="Append only; leave integration to the servers' sequencers."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@with_appcontext
def demo_load(entries: int, batch: int, no_sequence: bool, as_json: bool) -> None:
    """Fill the ledger with ENTRIES synthetic data reads, then sequence them (benchmarks)."""
    from broker.sequencer import sequence_once
    from demo.ledger_load import load

    broker = current_broker()
    result = load(
        broker.db,
        entries,
        batch=batch,
        sequence=None if no_sequence else lambda: sequence_once(broker),
        progress=lambda line: click.echo(line, err=True),
    )
    total = result.append_seconds + result.sequence_seconds
    _emit(
        {
            "entries": result.entries,
            "first_index": result.first_index,
            "append_seconds": round(result.append_seconds, 3),
            "append_per_second": round(entries / result.append_seconds) if entries else 0,
            "sequence_seconds": round(result.sequence_seconds, 3),
            "entries_per_second": round(entries / total) if entries and total else 0,
            "tree_size": result.head.tree_size if result.head else None,
        },
        as_json,
    )


@click.group("service")
def service_group() -> None:
    """OAuth clients: municipal services, approved companies, auditors."""


@service_group.command("add")
@click.option("--name", required=True, help="Name in Bulgarian (and English unless given).")
@click.option("--name-en", help="Name in English.")
@click.option("--organisation", help="The controller behind the service.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--purpose", "purposes", multiple=True, required=True)
@click.option("--client-id", help="Choose the client id (default: generated).")
@click.option("--sandbox", is_flag=True, help="A test service, marked as such to citizens.")
@click.option(
    "--jwks-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The service's public keys (a JWK Set: EC P-256 or Ed25519, each with a kid): it "
    "authenticates with private_key_jwt and gets no secret.",
)
@click.option(
    "--jwks-uri",
    help="Where the service publishes its public keys (https; http on loopback outside "
    "production): it authenticates with private_key_jwt and gets no secret.",
)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def service_add(
    name: str,
    name_en: str | None,
    organisation: str | None,
    redirect_uris: tuple[str, ...],
    purposes: tuple[str, ...],
    client_id: str | None,
    sandbox: bool,
    jwks_file: Path | None,
    jwks_uri: str | None,
    as_json: bool,
) -> None:
    """Register a service; its secret is shown once and stored hashed, or with --jwks-file or
    --jwks-uri it authenticates with signed client assertions (RFC 7523) and has none."""
    broker = current_broker()
    jwks = _read_jwks(jwks_file) if jwks_file is not None else None
    with broker.db.sessions() as session:
        try:
            service, secret = register_service(
                session,
                name_bg=name,
                name_en=name_en or name,
                organisation=organisation or name,
                redirect_uris=list(redirect_uris),
                purposes=list(purposes),
                sandbox=sandbox,
                client_id=client_id,
                jwks=jwks,
                jwks_uri=jwks_uri,
                production=broker.settings.production,
            )
        except RegistrationError as exc:
            raise click.UsageError(str(exc)) from exc
        session.commit()
    credentials: dict[str, Any] = {"client_secret": secret}
    if secret is None:
        credentials = {"token_endpoint_auth_method": service.token_endpoint_auth_method}
        credentials |= {"jwks_uri": service.jwks_uri} if service.jwks_uri else {}
    _emit(
        {
            "client_id": service.client_id,
            **credentials,
            "redirect_uris": list(redirect_uris),
            "purposes": list(purposes),
            "sandbox": sandbox,
        },
        as_json,
    )


def _read_jwks(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise click.UsageError(f"--jwks-file {path}: not a JSON file ({exc})") from exc


@click.group("citizen")
def citizen_group() -> None:
    """Citizen wallet accounts."""


@citizen_group.command("add")
@click.argument("username")
@click.option("--national-id", required=True, help="The citizen's ЕГН.")
@click.option(
    "--password-stdin",
    is_flag=True,
    required=True,
    help="Read the password from standard input (never from the command line).",
)
@click.option("--locale", type=click.Choice(["bg", "en"]), default="bg", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def citizen_add(
    username: str, national_id: str, password_stdin: bool, locale: str, as_json: bool
) -> None:
    """Create a wallet account for USERNAME."""
    password = sys.stdin.readline().rstrip("\r\n")
    broker = current_broker()
    with broker.db.sessions() as session:
        try:
            subject = create_subject(
                session,
                broker.keys.keyring,
                username=username,
                password=password,
                national_id=national_id,
                locale=locale,
            )
        except AccountError as exc:
            raise click.UsageError(str(exc)) from exc
        session.commit()
        _emit({"username": subject.username, "id": subject.id}, as_json)


@citizen_group.command("erase")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def citizen_erase(username: str, yes: bool, as_json: bool) -> None:
    """Erase USERNAME: withdraw every consent and destroy the keys that link the ledger."""
    from sqlalchemy import select

    from consent.account_erasure import erase_subject
    from consent.models import Subject

    broker = current_broker()
    if not yes:
        click.confirm(f"Erase the wallet of {username!r}? This cannot be undone", abort=True)
    with broker.db.sessions() as session, broker.db.writing(session):
        subject = session.scalar(
            select(Subject).where(Subject.username == username, Subject.erased_at.is_(None))
        )
        if subject is None:
            raise click.ClickException(f"no citizen {username!r}")
        withdrawn = erase_subject(session, broker.domain, subject, now=utcnow())
    _emit({"erased": username, "consents_withdrawn": withdrawn}, as_json)


@click.group("consents")
def consents_group() -> None:
    """Consent housekeeping."""


@consents_group.command("expire")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def consents_expire(as_json: bool) -> None:
    """Record the expiry of every consent past its end (run it from cron or a timer)."""
    broker = current_broker()
    with broker.db.sessions() as session, broker.db.writing(session):
        count = expire_due_consents(session, now=utcnow())
    _emit({"expired": count}, as_json)


@click.group("guardianship")
def guardianship_group() -> None:
    """Parents acting for their minor children."""


@guardianship_group.command("hand-over")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def guardianship_hand_over(as_json: bool) -> None:
    """End the parents' control of children who came of age (run it daily from cron)."""
    from consent.guardianship import hand_over_due

    broker = current_broker()
    with broker.db.sessions() as session, broker.db.writing(session):
        count = hand_over_due(session, broker.keys.keyring, now=utcnow())
    _emit({"handed_over": count}, as_json)


@click.command("serve")
@click.option("--bind", help="Address to listen on (default: SERDIKA_BIND).")
@click.option("--workers", type=int, help="Worker processes (default: one per core).")
@with_appcontext
def serve(bind: str | None, workers: int | None) -> None:
    """Serve the broker and the wallet with gunicorn."""
    from broker.serve import run

    broker = current_broker()
    settings = broker.settings
    if settings.connectors_file is None and not settings.production:
        from demo.sources import start_upstream

        try:
            upstream = start_upstream(settings.sandbox_url, broker.keys.secret_key)
        except OSError as exc:
            click.echo(
                f"demo Social Assistance Agency not started ({settings.sandbox_url}): "
                f"{exc.strerror}; its reads will answer 503",
                err=True,
            )
        else:
            click.echo(f"demo Social Assistance Agency at {upstream.url}", err=True)
    tls = None
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        tls = (settings.tls_cert_file, settings.tls_key_file)
    run(bind or settings.bind, workers or settings.workers, tls=tls)


@click.group("ledger")
def ledger_group() -> None:
    """The ledger's Merkle tree."""


@ledger_group.command("sequence")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def ledger_sequence(as_json: bool) -> None:
    """Integrate waiting entries into the tree and sign a head (the servers do this too)."""
    from broker.sequencer import sequence_once

    head = sequence_once(current_broker())
    if head is None:
        raise click.ClickException("another sequencer holds the lock; try again")
    _emit(head.as_json(), as_json)


@click.group("notifications")
def notifications_group() -> None:
    """Citizens' notifications."""


@notifications_group.command("run")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def notifications_run(as_json: bool) -> None:
    """Find first reads and consents about to end, then e-mail what waits (workers run this
    every SERDIKA_NOTIFY_INTERVAL seconds; cron can too)."""

    from broker.mail import run_once

    report = run_once(current_app._get_current_object())  # type: ignore[attr-defined]
    _emit(report.as_dict(), as_json)


def register_commands(app: Flask) -> None:
    """Put every command on the app's ``flask``/``serdika`` command line."""
    for command in (
        db_group,
        demo_group,
        service_group,
        citizen_group,
        consents_group,
        serve,
        ledger_group,
        audit_group,
        receipt_group,
        guardianship_group,
        notifications_group,
        keys_group,
    ):
        app.cli.add_command(command)
