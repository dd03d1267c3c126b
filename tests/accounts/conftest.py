"""Fixtures for account tests: the account service on SQLite or PostgreSQL, a fake clock, an SMTP server."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from operatorflow.accounts import AccountService, build_accounts, passwords
from operatorflow.settings import load_settings
from operatorflow.tls import ensure_certificate

SMTP_USER = "mailer"
SMTP_PASSWORD = "smtp-secret-1"


@pytest.fixture(autouse=True)
def fast_bcrypt(monkeypatch):
    """Hash with the lowest bcrypt cost, so a test does not spend a quarter of a second per hash."""
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def account_settings(tmp_path, database_url):
    return load_settings(home=tmp_path / "home", database_url=database_url, worker="none", port=8443)


@pytest.fixture
def account_service(account_settings, registry, clock) -> AccountService:
    return build_accounts(account_settings, registry, clock)


class RecordingHandler:
    """aiosmtpd handler that keeps every delivered message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _check_login(server, session, envelope, mechanism, auth_data):
    accepted = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    # handled=False makes aiosmtpd 1.4.6 send its own 535 reply on a rejection; by default it
    # expects the authenticator to have replied, and the client waits until its timeout.
    return AuthResult(success=accepted, handled=False)


class SmtpServer:
    def __init__(self, controller: Controller, handler: RecordingHandler, ca_file: str = "") -> None:
        self.controller = controller
        self.handler = handler
        self.host = controller.hostname
        self.port = controller.port
        self.ca_file = ca_file


@pytest.fixture
def smtp_server():
    """A plain SMTP server on 127.0.0.1 that accepts mail without authentication."""
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield SmtpServer(controller, handler)
    controller.stop()


@pytest.fixture
def smtp_tls_server(tmp_path):
    """An SMTP server on 127.0.0.1 that requires STARTTLS (self-signed certificate) and authentication."""
    cert_path, key_path = ensure_certificate(load_settings(home=tmp_path / "smtp-tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    handler = RecordingHandler()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True,
        authenticator=_check_login, auth_require_tls=True,
    )
    controller.start()
    yield SmtpServer(controller, handler, ca_file=str(cert_path))
    controller.stop()
