"""AccountService: registration with email confirmation, sign-in limits, password reset and change."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from operatorflow.accounts import AccountLocked, MailNotSent, SIGN_IN_FAILED
from operatorflow.errors import InvalidInput, PermissionDenied
from tests.outbox import link_token, outbox_messages

PASSWORD = "Lovelace#1843"
NEW_PASSWORD = "Analytical-Engine-2"


def register_and_confirm(account_service, settings, name="ada"):
    account_service.register(name, f"{name}@example.com", PASSWORD, PASSWORD)
    token = link_token(outbox_messages(settings.home)[-1], "confirm")
    return account_service.confirm_email(token)


def test_registration_emails_confirmation_link(account_service, account_settings, caplog):
    with caplog.at_level(logging.INFO, logger="operatorflow.accounts"):
        user = account_service.register("Ada", "Ada@Example.com", PASSWORD, PASSWORD)

    [message] = outbox_messages(account_settings.home)
    token = link_token(message, "confirm")
    assert (user.name, user.email, user.confirmed) == ("ada", "ada@example.com", False)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Confirm your OperatorFlow account"
    assert f"https://localhost:8443/?confirm={token}" in message.get_content()
    assert f"accounts confirmation link for ada: https://localhost:8443/?confirm={token}" in caplog.messages


def test_unconfirmed_account_cannot_sign_in(account_service):
    account_service.register("ada", "ada@example.com", PASSWORD, PASSWORD)

    with pytest.raises(PermissionDenied) as caught:
        account_service.sign_in("ada", PASSWORD)

    assert str(caught.value) == ("The account 'ada' is not confirmed yet: open the link in the confirmation "
                                 "email, or send a new one on the Resend confirmation tab.")


def test_confirmed_account_signs_in(account_service, account_settings):
    register_and_confirm(account_service, account_settings)

    user = account_service.sign_in(" ADA ", PASSWORD)

    assert user.name == "ada"
    assert user.confirmed


def test_resend_makes_new_link_and_old_stays_valid(account_service, account_settings):
    account_service.register("ada", "ada@example.com", PASSWORD, PASSWORD)

    account_service.resend_confirmation("ada@example.com")

    first, second = outbox_messages(account_settings.home)
    assert link_token(first, "confirm") != link_token(second, "confirm")
    assert account_service.confirm_email(link_token(second, "confirm")).confirmed


def test_resend_for_unknown_or_confirmed_sends_nothing(account_service, account_settings):
    register_and_confirm(account_service, account_settings)

    account_service.resend_confirmation("ada")
    account_service.resend_confirmation("nobody")

    assert len(outbox_messages(account_settings.home)) == 1


@pytest.mark.parametrize(
    ("username", "email", "password", "repeat", "message"),
    [
        ("-ada", "ada@example.com", PASSWORD, PASSWORD,
         "Invalid username '-ada': use 3 to 20 letters, digits, '_' or '-', starting with a letter or digit "
         "(stored in lowercase)."),
        ("local", "ada@example.com", PASSWORD, PASSWORD,
         "The username 'local' is reserved for the command line: choose another one."),
        ("ada", "not-an-email", PASSWORD, PASSWORD, "Invalid email address 'not-an-email': use the form name@example.com."),
        ("ada", "ada@example.com", PASSWORD, PASSWORD + "x", "The passwords do not match: type the same password twice."),
        ("ada", "ada@example.com", "short", "short", "The password is too short: use at least 12 characters."),
    ],
)
def test_registration_rejects_invalid_input(account_service, account_settings, username, email, password, repeat,
                                            message):
    with pytest.raises(InvalidInput) as caught:
        account_service.register(username, email, password, repeat)

    assert str(caught.value) == message
    assert outbox_messages(account_settings.home) == []


def test_wrong_password_and_unknown_user_look_alike(account_service, account_settings):
    register_and_confirm(account_service, account_settings)

    with pytest.raises(InvalidInput) as wrong:
        account_service.sign_in("ada", "Wrong#password1")
    with pytest.raises(InvalidInput) as unknown:
        account_service.sign_in("nobody", "Wrong#password1")

    assert str(wrong.value) == str(unknown.value) == SIGN_IN_FAILED


def test_failed_sign_ins_pause_longer_each_time(account_service, account_settings, clock):
    register_and_confirm(account_service, account_settings)
    pauses = []

    for _ in range(4):
        before = clock.monotonic()
        with pytest.raises(InvalidInput):
            account_service.sign_in("ada", "Wrong#password1")
        pauses.append(clock.monotonic() - before)

    assert pauses == [1.0, 2.0, 4.0, 8.0]


def test_fifth_failure_locks_account_until_time(account_service, account_settings, clock):
    register_and_confirm(account_service, account_settings)
    for _ in range(4):
        with pytest.raises(InvalidInput):
            account_service.sign_in("ada", "Wrong#password1")
    locked_at = clock.now()

    with pytest.raises(AccountLocked) as fifth:
        account_service.sign_in("ada", "Wrong#password1")
    with pytest.raises(AccountLocked) as right_password:
        account_service.sign_in("ada", PASSWORD)

    expected = ("The account 'ada' is locked after 5 failed sign-ins until 2026-01-01 00:15 UTC. "
                "Try again then, or reset your password on the Reset password tab.")
    assert str(fifth.value) == str(right_password.value) == expected
    assert fifth.value.until == locked_at + dt.timedelta(minutes=15)


def test_lock_ends_after_lock_minutes(account_service, account_settings, clock):
    register_and_confirm(account_service, account_settings)
    for _ in range(4):
        with pytest.raises(InvalidInput):
            account_service.sign_in("ada", "Wrong#password1")
    with pytest.raises(AccountLocked):
        account_service.sign_in("ada", "Wrong#password1")

    clock.advance(15 * 60)

    assert account_service.sign_in("ada", PASSWORD).name == "ada"


def test_disabled_account_cannot_sign_in(account_service, account_settings):
    register_and_confirm(account_service, account_settings)
    account_service.set_disabled("ada", True)

    with pytest.raises(PermissionDenied) as caught:
        account_service.sign_in("ada", PASSWORD)

    assert str(caught.value) == "The account 'ada' is disabled: ask an administrator to enable it."


def test_command_line_user_cannot_sign_in(account_service, account_settings):
    with pytest.raises(InvalidInput) as caught:
        account_service.sign_in(account_settings.default_user, "")

    assert str(caught.value) == SIGN_IN_FAILED


def test_password_reset_sets_password_once(account_service, account_settings):
    register_and_confirm(account_service, account_settings)
    session = account_service.sessions.start("ada")

    account_service.request_password_reset("ada@example.com")
    token = link_token(outbox_messages(account_settings.home)[-1], "reset")
    account_service.reset_password(token, NEW_PASSWORD, NEW_PASSWORD)

    assert account_service.sign_in("ada", NEW_PASSWORD).name == "ada"
    assert account_service.sessions.get_user(session) is None
    with pytest.raises(InvalidInput) as again:
        account_service.reset_password(token, "Another-password-3", "Another-password-3")
    assert str(again.value) == "This password-reset link was already used: ask for a new one if you still need it."


def test_reset_with_weak_password_keeps_link_usable(account_service, account_settings):
    register_and_confirm(account_service, account_settings)
    account_service.request_password_reset("ada")
    token = link_token(outbox_messages(account_settings.home)[-1], "reset")

    with pytest.raises(InvalidInput) as weak:
        account_service.reset_password(token, "weakweakweakweak", "weakweakweakweak")
    account_service.reset_password(token, NEW_PASSWORD, NEW_PASSWORD)

    assert str(weak.value).startswith("The password uses only one kind of character")


def test_reset_link_expires(account_service, account_settings, clock):
    register_and_confirm(account_service, account_settings)
    account_service.request_password_reset("ada")
    token = link_token(outbox_messages(account_settings.home)[-1], "reset")
    clock.advance(2 * 3600)

    with pytest.raises(InvalidInput) as caught:
        account_service.reset_password(token, NEW_PASSWORD, NEW_PASSWORD)

    assert str(caught.value) == "This password-reset link expired at 2026-01-01 02:00 UTC: ask for a new one."


def test_reset_request_for_unknown_user_sends_nothing(account_service, account_settings):
    account_service.request_password_reset("nobody@example.com")

    assert outbox_messages(account_settings.home) == []


def test_change_password_needs_current_one(account_service, account_settings):
    register_and_confirm(account_service, account_settings)

    with pytest.raises(InvalidInput) as caught:
        account_service.change_password("ada", "Wrong#password1", NEW_PASSWORD, NEW_PASSWORD)

    assert str(caught.value) == "The current password is wrong: type it again."
    assert account_service.sign_in("ada", PASSWORD).name == "ada"


def test_change_password_ends_sessions(account_service, account_settings):
    register_and_confirm(account_service, account_settings)
    session = account_service.sessions.start("ada")

    account_service.change_password("ada", PASSWORD, NEW_PASSWORD, NEW_PASSWORD)

    assert account_service.sessions.get_user(session) is None
    assert account_service.sign_in("ada", NEW_PASSWORD).name == "ada"


class FailingMailer:
    def send(self, message):
        from operatorflow.errors import BackendUnavailable

        raise BackendUnavailable("the SMTP server smtp.invalid:587 failed: connection refused")


def test_mail_failure_keeps_account(account_service, account_settings):
    account_service.mailer = FailingMailer()

    with pytest.raises(MailNotSent) as caught:
        account_service.register("ada", "ada@example.com", PASSWORD, PASSWORD)

    assert str(caught.value) == ("The confirmation email could not be sent: the SMTP server smtp.invalid:587 "
                                 "failed: connection refused. Ask an administrator or try again.")
    assert account_service.users.get("ada").email == "ada@example.com"


def test_add_user_without_password_returns_reset_link(account_service, account_settings):
    user, link = account_service.add_user("grace", "grace@example.com", is_admin=True)

    [message] = outbox_messages(account_settings.home)
    assert user.confirmed and user.is_admin
    assert link == f"https://localhost:8443/?reset={link_token(message, 'reset')}"
    with pytest.raises(InvalidInput):
        account_service.sign_in("grace", "")


def test_public_url_setting_shapes_links(account_service, account_settings):
    import dataclasses

    account_service.settings = dataclasses.replace(account_settings, public_url="https://flow.example.com/")

    account_service.register("ada", "ada@example.com", PASSWORD, PASSWORD)

    token = link_token(outbox_messages(account_settings.home)[-1], "confirm")
    assert f"https://flow.example.com/?confirm={token}" in outbox_messages(account_settings.home)[-1].get_content()


def test_older_reset_link_stops_after_reset(account_service, account_settings):
    register_and_confirm(account_service, account_settings)
    account_service.request_password_reset("ada")
    older = link_token(outbox_messages(account_settings.home)[-1], "reset")
    account_service.request_password_reset("ada")
    newer = link_token(outbox_messages(account_settings.home)[-1], "reset")

    account_service.reset_password(newer, NEW_PASSWORD, NEW_PASSWORD)

    with pytest.raises(InvalidInput) as caught:
        account_service.reset_password(older, "Another-password-3", "Another-password-3")
    assert str(caught.value) == "This password-reset link was already used: ask for a new one if you still need it."
    assert account_service.sign_in("ada", NEW_PASSWORD).name == "ada"


def test_outbox_link_readable_in_raw_file(account_service, account_settings):
    register_and_confirm(account_service, account_settings)

    account_service.request_password_reset("ada")

    token = link_token(outbox_messages(account_settings.home)[-1], "reset")
    raw_files = [path.read_text(encoding="utf-8") for path in (account_settings.home / "outbox").glob("*.eml")]
    assert [text for text in raw_files if f"?reset={token}" in text] != []
