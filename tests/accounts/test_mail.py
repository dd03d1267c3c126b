"""Account email through a real SMTP server (aiosmtpd on 127.0.0.1), with STARTTLS and authentication, and the outbox."""

from __future__ import annotations

import dataclasses
import logging
import stat

import pytest

from operatorflow.accounts import MailNotSent, OutboxMailer, SmtpMailer, build_accounts, build_mailer
from operatorflow.accounts.mail import compose
from operatorflow.errors import BackendUnavailable
from operatorflow.settings import load_settings
from tests.accounts.conftest import SMTP_PASSWORD, SMTP_USER, free_port
from tests.outbox import link_token

PASSWORD = "Lovelace#1843"


def smtp_settings(account_settings, server, **overrides):
    values = {"smtp_host": server.host, "smtp_port": server.port, "smtp_starttls": False} | overrides
    return dataclasses.replace(account_settings, **values)


def tls_settings(account_settings, server, **overrides):
    """Settings for the STARTTLS server, trusting its self-signed certificate."""
    values = {"smtp_starttls": True, "smtp_user": SMTP_USER, "smtp_ca_file": server.ca_file} | overrides
    return smtp_settings(account_settings, server, **values)


def test_no_smtp_host_means_outbox(settings):
    mailer = build_mailer(settings)

    assert isinstance(mailer, OutboxMailer)
    assert mailer.folder == settings.home / "outbox"


def test_outbox_file_is_private(settings, clock, caplog):
    mailer = OutboxMailer(settings.home / "outbox", clock)

    with caplog.at_level(logging.INFO, logger="operatorflow.accounts.mail"):
        mailer.send(compose(settings, "ada@example.com", "Hello", "Body"))

    [path] = (settings.home / "outbox").glob("*.eml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert caplog.messages == [f"mail wrote 'Hello' for ada@example.com to {path}"]


def test_registration_mail_through_smtp(account_settings, registry, clock, smtp_server):
    settings = smtp_settings(account_settings, smtp_server)
    account_service = build_accounts(settings, registry, clock)

    account_service.register("ada", "ada@example.com", PASSWORD, PASSWORD)

    [message] = smtp_server.handler.messages
    [envelope] = smtp_server.handler.envelopes
    assert envelope.rcpt_tos == ["ada@example.com"]
    assert message["From"] == "OperatorFlow <operatorflow@localhost>"
    assert message["Subject"] == "Confirm your OperatorFlow account"
    token = link_token(message, "confirm")
    assert account_service.confirm_email(token).confirmed
    assert not (settings.home / "outbox").exists()


def test_starttls_and_login(settings, smtp_tls_server):
    settings = tls_settings(settings, smtp_tls_server, smtp_password=SMTP_PASSWORD)
    mailer = build_mailer(settings)

    mailer.send(compose(settings, "ada@example.com", "Over TLS", "Body"))

    [envelope] = smtp_tls_server.handler.envelopes
    assert envelope.rcpt_tos == ["ada@example.com"]
    assert smtp_tls_server.handler.messages[0]["Subject"] == "Over TLS"


def test_starttls_rejects_untrusted_certificate(settings, smtp_tls_server):
    settings = tls_settings(settings, smtp_tls_server, smtp_password=SMTP_PASSWORD, smtp_ca_file="")
    mailer = build_mailer(settings)

    with pytest.raises(BackendUnavailable) as caught:
        mailer.send(compose(settings, "ada@example.com", "Over TLS", "Body"))

    assert f"the SMTP server 127.0.0.1:{smtp_tls_server.port} failed: [SSL: CERTIFICATE_VERIFY_FAILED]" in str(
        caught.value)
    assert smtp_tls_server.handler.messages == []


def test_secret_provider_supplies_smtp_password(settings, smtp_tls_server):
    settings = tls_settings(settings, smtp_tls_server)
    requested_names = []

    def provider(name):
        requested_names.append(name)
        return SMTP_PASSWORD

    build_mailer(settings, secret_provider=provider).send(compose(settings, "ada@example.com", "Hi", "Body"))

    assert requested_names == ["smtp-password"]
    assert len(smtp_tls_server.handler.messages) == 1


def test_wrong_smtp_password_says_what_to_check(settings, smtp_tls_server):
    settings = tls_settings(settings, smtp_tls_server, smtp_password="wrong")

    with pytest.raises(BackendUnavailable) as caught:
        build_mailer(settings).send(compose(settings, "ada@example.com", "Hi", "Body"))

    assert str(caught.value) == (f"the SMTP server 127.0.0.1:{smtp_tls_server.port} rejected the user 'mailer' "
                                 "(535 5.7.8 Authentication credentials invalid); check the SMTP user and password")


def test_unreachable_smtp_keeps_account_and_reports(account_settings, registry, clock):
    port = free_port()
    settings = dataclasses.replace(account_settings, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    account_service = build_accounts(settings, registry, clock)

    with pytest.raises(MailNotSent) as caught:
        account_service.register("ada", "ada@example.com", PASSWORD, PASSWORD)

    assert str(caught.value) == (f"The confirmation email could not be sent: the SMTP server 127.0.0.1:{port} "
                                 "failed: [Errno 111] Connection refused. Ask an administrator or try again.")
    assert account_service.users.get("ada").email == "ada@example.com"


def test_smtp_password_not_in_settings_repr(tmp_path):
    settings = load_settings(home=tmp_path, smtp_password="hunter2-secret")

    assert "hunter2-secret" not in repr(settings)


def test_smtp_settings_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OPERATORFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("OPERATORFLOW_SMTP_STARTTLS", "false")

    settings = load_settings(home=tmp_path)

    assert isinstance(build_mailer(settings), SmtpMailer)
    assert settings.smtp_starttls is False

