"""Notifications by e-mail through a pluggable sender, and the job that finds and sends them.

A sender is anything with ``send(message)``, such as :class:`SmtpSender` (``SERDIKA_SMTP_*``);
with no SMTP host configured nothing is sent and notices stay in the wallet only.
:func:`run_once` scans for first reads and consents about to end, then delivers what waits.
Several workers and nodes may run it at once: notices are unique per subject and key, and each
e-mail is claimed by one conditional UPDATE before it is sent, so none goes out twice.
Addresses and message bodies are never logged.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Protocol

from flask import Flask
from sqlalchemy import select, update

from broker.config import SmtpSettings
from consent.models import EmailState, Notification, Subject
from consent.notifications import email_of, scan_expiring, scan_first_reads
from consent.types import utcnow

log = logging.getLogger(__name__)
#: After this many failed attempts an e-mail is given up (the notice stays in the wallet).
MAX_ATTEMPTS = 5
#: A claim this old belongs to a worker that died while sending; the e-mail waits again.
STALE_CLAIM = timedelta(minutes=10)


class MailSender(Protocol):
    def send(self, message: EmailMessage) -> None: ...


#: Where the app keeps the :class:`MailRenderer` the wallet gave it (``app.extensions``).
MAIL_RENDERER = "serdika.mail_renderer"


class RenderedMail(Protocol):
    """A notice's e-mail as the wallet wrote it, in the citizen's language."""

    @property
    def subject(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def locale(self) -> str: ...


class MailRenderer(Protocol):
    """Writes the e-mail of a notice to a citizen (``wallet_ui.Wallet.render_mail``)."""

    def __call__(self, notice: Notification, subject: Subject, /) -> RenderedMail: ...


@dataclass(frozen=True)
class SmtpSender:
    settings: SmtpSettings

    def send(self, message: EmailMessage) -> None:
        smtp = self.settings
        context = ssl.create_default_context()
        client: smtplib.SMTP = (
            smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
            if smtp.ssl
            else smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        )
        with client:
            if smtp.starttls and not smtp.ssl:
                client.starttls(context=context)
            if smtp.username and smtp.password:
                # Never a password over a plain connection (settings refuse that too).
                if not (smtp.ssl or smtp.starttls):
                    raise smtplib.SMTPException("SMTP login needs SSL or STARTTLS")
                client.login(smtp.username, smtp.password)
            client.send_message(message)


def sender_for(settings: Any) -> MailSender | None:
    return SmtpSender(settings.smtp) if settings.smtp is not None else None


@dataclass
class RunReport:
    first_reads: int = 0
    expiring: int = 0
    sent: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def run_once(app: Flask, *, now: datetime | None = None) -> RunReport:
    """Scan for notices, then e-mail what waits; needs no request, only the app."""
    broker = app.extensions["serdika"]
    now = now or utcnow()
    report = RunReport()
    with app.app_context(), broker.db.sessions() as session:
        with broker.db.writing(session):
            report.first_reads = scan_first_reads(session, now=now)
        with broker.db.writing(session):
            report.expiring = scan_expiring(session, now=now)
        sender = sender_for(broker.settings)
        if sender is not None:
            report.sent, report.failed = deliver_pending(app, session, sender, now=now)
    return report


def retry_after(attempts: int) -> timedelta:
    """How long an e-mail waits after its ``attempts``-th failure: 2, 4, 8, 16 minutes."""
    return timedelta(minutes=2**attempts)


def deliver_pending(
    app: Flask, session: Any, sender: MailSender, *, now: datetime, batch: int = 50
) -> tuple[int, int]:
    """Send the waiting e-mails; return how many went and how many failed this time.

    Each is claimed first (``sending``, with the claim's time in ``emailed_at``); a claim
    older than :data:`STALE_CLAIM` (a worker died mid-send) is given back. A failure waits
    :func:`retry_after` before the next attempt, and after :data:`MAX_ATTEMPTS` the e-mail
    is given up (the notice stays in the wallet).
    """
    broker = app.extensions["serdika"]
    with broker.db.writing(session):
        session.execute(
            update(Notification)
            .where(
                Notification.email_state == EmailState.SENDING,
                Notification.emailed_at < now - STALE_CLAIM,
            )
            .values(email_state=EmailState.PENDING)
            .execution_options(synchronize_session=False)
        )
    waiting = session.execute(
        select(Notification.id, Notification.email_attempts, Notification.emailed_at)
        .where(Notification.email_state == EmailState.PENDING)
        .order_by(Notification.id)
        .limit(batch)
    ).all()
    due = [
        notification_id
        for notification_id, attempts, last in waiting
        if last is None or now - last >= retry_after(attempts)
    ]
    sent = failed = 0
    for notification_id in due:
        with broker.db.writing(session):
            claimed = session.execute(
                update(Notification)
                .where(
                    Notification.id == notification_id,
                    Notification.email_state == EmailState.PENDING,
                )
                .values(
                    email_state=EmailState.SENDING,
                    emailed_at=now,
                    email_attempts=Notification.email_attempts + 1,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
        if claimed != 1:
            continue  # another worker has it
        state = EmailState.SENT
        attempts = 0
        try:
            notice = session.get(Notification, notification_id)
            session.refresh(notice)
            attempts = notice.email_attempts
            subject = session.get(Subject, notice.subject_id)
            address = email_of(broker.keys.keyring, subject) if subject else None
            if address is None or subject is None or subject.erased_at is not None:
                state = EmailState.NONE  # the address was removed meanwhile
            else:
                sender.send(compose(app, notice, subject, address))
                sent += 1
        except Exception as error:
            failed += 1
            state = EmailState.FAILED if attempts >= MAX_ATTEMPTS else EmailState.PENDING
            log.warning(
                "notification %d not e-mailed (attempt %d): %s",
                notification_id,
                attempts,
                type(error).__name__,
            )
        with broker.db.writing(session):
            session.execute(
                update(Notification)
                .where(Notification.id == notification_id)
                .values(email_state=state)
                .execution_options(synchronize_session=False)
            )
    return sent, failed


def compose(app: Flask, notice: Notification, subject: Subject, address: str) -> EmailMessage:
    """The e-mail of one notice, as the wallet writes it (:data:`MAIL_RENDERER`), addressed."""
    broker = app.extensions["serdika"]
    render: MailRenderer = app.extensions[MAIL_RENDERER]
    mail = render(notice, subject)
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = broker.settings.smtp.sender if broker.settings.smtp else "serdika"
    message["To"] = address
    message["Message-ID"] = make_msgid(domain="serdika")
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    # After the parts: making it multipart moves the Content-* headers into the first.
    message["Content-Language"] = mail.locale
    return message


class NotifierThread(threading.Thread):
    """Runs :func:`run_once` every few seconds in a worker; errors are logged, never raised."""

    def __init__(self, app: Flask, interval: float) -> None:
        super().__init__(name="serdika-notifier", daemon=True)
        self.app = app
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                run_once(self.app)
            except Exception:  # keep notifying after a transient database or SMTP failure
                log.exception("notifications failed; retrying in %.0f s", self.interval)
