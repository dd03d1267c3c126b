"""Outgoing account email: SMTP when a server is configured, else .eml files in an outbox folder.

    Mailer                 send(message, purpose) -> None
    ├── SmtpMailer         an SMTP server, with optional STARTTLS and authentication
    └── OutboxMailer       `home/outbox/*.eml`, so the app works offline
"""

from __future__ import annotations

import email.utils
import logging
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Callable, Protocol

from operatorflow.clock import Clock
from operatorflow.errors import BackendUnavailable
from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

SecretProvider = Callable[[str], "str | None"]
"""Look up a secret by name (`smtp-password`); None when it is not set."""

SMTP_PASSWORD_SECRET = "smtp-password"
SMTP_TIMEOUT_SECONDS = 30.0
OUTBOX_DIR = "outbox"


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver one message; raise BackendUnavailable when it cannot be handed over."""


class OutboxMailer:
    """Write each message as an .eml file readable by the owner only."""

    def __init__(self, folder: Path, clock: Clock | None = None) -> None:
        self.folder = folder
        self._clock = clock or Clock()

    def send(self, message: EmailMessage) -> None:
        stamp = self._clock.now().strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_bytes(message.as_bytes())
        except OSError as exc:
            raise BackendUnavailable(f"the outbox folder {self.folder} is not writable ({exc})") from exc
        logger.info("mail wrote %r for %s to %s", message["Subject"], message["To"], path)


class SmtpMailer:
    """Send through one SMTP server; a new connection per message, because account emails are rare."""

    def __init__(self, host: str, port: int, *, starttls: bool, user: str, secret_provider: SecretProvider,
                 ca_file: str = "", timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
        self.host = host
        self.port = port
        self.starttls = starttls
        self.user = user
        self._secret_provider = secret_provider
        self._ca_file = ca_file
        self._timeout = timeout

    def send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=self._tls_context())
                if self.user:
                    smtp.login(self.user, self._secret_provider(SMTP_PASSWORD_SECRET) or "")
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise BackendUnavailable(
                f"the SMTP server {self.host}:{self.port} rejected the user {self.user!r} "
                f"({exc.smtp_code} {_reply_text(exc.smtp_error)}); check the SMTP user and password"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise BackendUnavailable(
                f"the SMTP server {self.host}:{self.port} does not support {exc}; "
                "check the SMTP STARTTLS and user settings"
            ) from exc
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise BackendUnavailable(f"the SMTP server {self.host}:{self.port} failed: {exc}") from exc
        logger.info("mail sent %r to %s through %s:%s", message["Subject"], message["To"], self.host, self.port)

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._ca_file or None)


def build_mailer(settings: Settings, secret_provider: SecretProvider | None = None,
                 clock: Clock | None = None) -> Mailer:
    """Return the SMTP mailer when `smtp_host` is set, else the outbox under the data folder.

    `secret_provider` defaults to the `smtp_password` setting.
    """
    if not settings.smtp_host:
        return OutboxMailer(settings.home / OUTBOX_DIR, clock)
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        starttls=settings.smtp_starttls,
        user=settings.smtp_user,
        secret_provider=secret_provider or settings_secret_provider(settings),
        ca_file=settings.smtp_ca_file,
    )


def settings_secret_provider(settings: Settings) -> SecretProvider:
    """Return a provider of the SMTP password: the `smtp_password` setting, else the shared credential `smtp-password`.

    Other names give None. The shared credential is the one an administrator stores on the Settings page.
    """

    def provide(name: str) -> str | None:
        if name != SMTP_PASSWORD_SECRET:
            return None
        if settings.smtp_password:
            return settings.smtp_password
        from operatorflow.credentials import resolve_credential

        return resolve_credential(None, SMTP_PASSWORD_SECRET, settings)

    return provide


def compose(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain="operatorflow")
    # 8bit keeps links readable in the outbox's .eml files; quoted-printable would break them at "=".
    message.set_content(body, cte="8bit")
    return message


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
