"""Account actions of local users: registration, email confirmation, sign-in, password reset and change."""

from __future__ import annotations

import datetime as dt
import logging
import urllib.parse

from operatorflow.accounts import passwords
from operatorflow.accounts.mail import Mailer, compose
from operatorflow.accounts.sessions import SessionStore
from operatorflow.accounts.users import (
    PURPOSE_CONFIRM, PURPOSE_RESET, SOURCE_LOCAL, User, UserStore, check_email, check_username,
    normalize_username,
)
from operatorflow.clock import Clock
from operatorflow.errors import BackendUnavailable, InvalidInput, PermissionDenied
from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

CONFIRM_PARAM = "confirm"
RESET_PARAM = "reset"
"""Query parameters of the emailed links, which the sign-in page reads."""

SIGN_IN_FAILED = "Wrong username or password. Check both, or reset your password on the Reset password tab."
MAX_DELAY_FACTOR = 16


class AccountLocked(PermissionDenied):
    """Raised when a sign-in reaches an account locked after too many failed sign-ins."""

    def __init__(self, name: str, until: dt.datetime, failures: int) -> None:
        super().__init__(
            f"The account {name!r} is locked after {failures} failed sign-ins until {until:%Y-%m-%d %H:%M} UTC. "
            "Try again then, or reset your password on the Reset password tab."
        )
        self.until = until


class MailNotSent(BackendUnavailable):
    """Raised when an account email could not be sent; the change that needed it is kept."""


class AccountService:
    def __init__(self, settings: Settings, users: UserStore, sessions: SessionStore, mailer: Mailer,
                 clock: Clock | None = None) -> None:
        self.settings = settings
        self.users = users
        self.sessions = sessions
        self.mailer = mailer
        self._clock = clock or Clock()

    # Registration and confirmation

    def register(self, username: str, email: str, password: str, repeat: str) -> User:
        """Create an unconfirmed local account and email its confirmation link.

        Raises InvalidInput for a bad username, email or password, and MailNotSent when the
        account was stored but the email failed; a resend can follow.
        """
        name = check_username(username, reserved={normalize_username(self.settings.default_user)})
        address = check_email(email)
        _check_new_password(password, repeat, name, address)

        user = self.users.create(name, email=address, source=SOURCE_LOCAL,
                                 password_hash=passwords.hash_password(password))
        self._send_confirmation(user)
        return user

    def resend_confirmation(self, name_or_email: str) -> None:
        """Email a new confirmation link to an unconfirmed local account; do nothing for any other input.

        The caller shows the same message either way, so this does not reveal which accounts exist.
        """
        user = self.users.find_by_name_or_email(name_or_email)
        if user is None or user.confirmed or user.source != SOURCE_LOCAL or not user.email:
            logger.info("accounts sent no confirmation for %r: no unconfirmed local account", name_or_email)
            return
        self._send_confirmation(user)

    def confirm_email(self, token: str) -> User:
        name = self.users.use_token(token, PURPOSE_CONFIRM)
        user = self.users.confirm(name)
        logger.info("accounts confirmed the email address of %s", name)
        return user

    # Signing in

    def sign_in(self, username: str, password: str) -> User:
        """Check a local account's password and return the account.

        Raises InvalidInput with one message for an unknown user and a wrong password, AccountLocked
        once `max_failed_sign_ins` failures in a row lock the account, and PermissionDenied for a
        disabled or unconfirmed account (only after a correct password). Each failure pauses the
        caller through the clock, twice as long as the failure before, up to MAX_DELAY_FACTOR times
        `sign_in_delay_seconds`.
        """
        name = normalize_username(username)
        user = self.users.find(name)
        now = self._clock.now()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            logger.info("accounts rejected a sign-in of %s: locked until %s", name, user.locked_until.isoformat())
            raise AccountLocked(name, user.locked_until, self.settings.max_failed_sign_ins)

        # Accounts proved elsewhere have no password here, so they fail like a wrong password.
        local = user is not None and user.source == SOURCE_LOCAL
        if not passwords.verify_password(password, user.password_hash if local else None):
            self._fail_sign_in(name, user if local else None)

        assert user is not None
        if user.disabled:
            logger.info("accounts rejected a sign-in of %s: disabled", name)
            raise PermissionDenied(f"The account {name!r} is disabled: ask an administrator to enable it.")
        if not user.confirmed:
            logger.info("accounts rejected a sign-in of %s: email not confirmed", name)
            raise PermissionDenied(
                f"The account {name!r} is not confirmed yet: open the link in the confirmation email, "
                "or send a new one on the Resend confirmation tab."
            )
        self.users.record_sign_in(name)
        logger.info("accounts %s signed in with a password", name)
        return user

    def _fail_sign_in(self, name: str, user: User | None) -> None:
        failures = 1
        if user is not None:
            lock_for = dt.timedelta(minutes=self.settings.lock_minutes)
            updated = self.users.record_failed_sign_in(name, self.settings.max_failed_sign_ins, lock_for)
            if updated.locked_until is not None and updated.locked_until > self._clock.now():
                raise AccountLocked(name, updated.locked_until, self.settings.max_failed_sign_ins)
            failures = updated.failed_sign_ins
        # NOTE: unknown names always get the first pause and never lock, so many failures in a row on
        # one name can tell an attacker that no such account exists.
        delay = self.settings.sign_in_delay_seconds * min(2 ** (failures - 1), MAX_DELAY_FACTOR)
        logger.info("accounts rejected a sign-in of %r: wrong username or password (pause %.1f s)", name, delay)
        self._clock.sleep(delay)
        raise InvalidInput(SIGN_IN_FAILED)

    # Passwords

    def request_password_reset(self, name_or_email: str) -> None:
        """Email a reset link to a local account with an email address; do nothing for any other input."""
        user = self.users.find_by_name_or_email(name_or_email)
        if user is None or user.source != SOURCE_LOCAL or not user.email:
            logger.info("accounts sent no password reset for %r: no local account with an email", name_or_email)
            return
        self.send_reset(user)

    def send_reset(self, user: User) -> str:
        """Email a new password-reset link to `user` and return the link."""
        token = self.users.issue_token(user.name, PURPOSE_RESET, dt.timedelta(hours=self.settings.reset_hours))
        link = self.link(RESET_PARAM, token)
        body = (
            f"Hello {user.name},\n\n"
            f"To choose a new OperatorFlow password, open this link within {_hours(self.settings.reset_hours)}:\n\n"
            f"{link}\n\n"
            "The link works once. If you did not ask for it, ignore this email: your password stays as it is.\n"
        )
        self._send(user, "Reset your OperatorFlow password", body, link, "password-reset")
        return link

    def reset_password(self, token: str, password: str, repeat: str) -> User:
        """Set a new password from an emailed link; end every session and lift a lock."""
        name = self.users.check_token(token, PURPOSE_RESET)
        if name is not None:
            user = self.users.get(name)
            _check_new_password(password, repeat, user.name, user.email)
        name = self.users.use_token(token, PURPOSE_RESET)
        user = self.users.get(name)
        self.users.set_password(name, passwords.hash_password(password))
        # Older reset links, sent before the one used here, must not change the password again.
        self.users.expire_tokens(name, PURPOSE_RESET)
        # The link proves the email address, so it also confirms an account that was not confirmed yet.
        if not user.confirmed:
            self.users.confirm(name)
        self.sessions.end_all(name)
        logger.info("accounts reset the password of %s", name)
        return self.users.get(name)

    def change_password(self, name: str, current: str, password: str, repeat: str) -> None:
        """Change a signed-in user's password after checking the current one, and end all their sessions.

        The page that calls this starts a new session for the browser tab the user is in.
        """
        user = self.users.get(name)
        if user.source != SOURCE_LOCAL:
            raise InvalidInput(f"The account {name!r} signs in through {user.source}: change the password there.")
        if not passwords.verify_password(current, user.password_hash):
            logger.info("accounts rejected a password change of %s: wrong current password", name)
            raise InvalidInput("The current password is wrong: type it again.")
        _check_new_password(password, repeat, user.name, user.email)

        self.users.set_password(name, passwords.hash_password(password))
        self.users.expire_tokens(name, PURPOSE_RESET)
        self.sessions.end_all(name)
        logger.info("accounts changed the password of %s", name)

    # Administration (the `operatorflow users` commands and the Administration page)

    def check_administrator(self, actor: str, action: str) -> None:
        """Raise PermissionDenied unless `actor` may manage accounts: an administrator, or the command-line user.

        The command-line user runs with a shell on the server, so it counts as an administrator.
        """
        if actor == self.settings.default_user or self.users.is_admin(actor):
            return
        logger.warning("access denied %s %s: not an administrator", actor, action)
        raise PermissionDenied(f"User {actor!r} is not permitted to {action}: only an administrator may manage "
                               "accounts. Ask one.")

    def add_user(self, name: str, email: str, *, is_admin: bool = False,
                 password: str | None = None) -> tuple[User, str | None]:
        """Create a confirmed local account; without a password, email a reset link and return it too."""
        name = check_username(name)
        address = check_email(email)
        if password is not None:
            _check_new_password(password, password, name, address)
        password_hash = passwords.hash_password(password) if password is not None else None

        user = self.users.create(name, email=address, source=SOURCE_LOCAL, password_hash=password_hash,
                                 is_admin=is_admin, confirmed=True)
        link = None if password is not None else self.send_reset(user)
        return user, link

    def set_disabled(self, name: str, disabled: bool) -> User:
        user = self.users.get(name)
        if disabled and normalize_username(name) == normalize_username(self.settings.default_user):
            raise InvalidInput(f"The command-line user {user.name!r} cannot be disabled.")
        user = self.users.set_disabled(user.name, disabled)
        if disabled:
            self.sessions.end_all(user.name)
        return user

    # Links and mail

    def public_url(self) -> str:
        return (self.settings.public_url or f"https://localhost:{self.settings.port}").rstrip("/")

    def link(self, parameter: str, token: str) -> str:
        return f"{self.public_url()}/?{urllib.parse.urlencode({parameter: token})}"

    def _send_confirmation(self, user: User) -> None:
        lifetime = dt.timedelta(hours=self.settings.confirmation_hours)
        token = self.users.issue_token(user.name, PURPOSE_CONFIRM, lifetime)
        link = self.link(CONFIRM_PARAM, token)
        body = (
            f"Hello {user.name},\n\n"
            f"To confirm your OperatorFlow account, open this link within "
            f"{_hours(self.settings.confirmation_hours)}:\n\n"
            f"{link}\n\n"
            "The link works once. If you did not create this account, ignore this email.\n"
        )
        self._send(user, "Confirm your OperatorFlow account", body, link, "confirmation")

    def _send(self, user: User, subject: str, body: str, link: str, email_kind: str) -> None:
        assert user.email is not None
        try:
            self.mailer.send(compose(self.settings, user.email, subject, body))
        except BackendUnavailable as exc:
            logger.error("accounts could not send the %s email of %s: %s", email_kind, user.name, exc)
            raise MailNotSent(f"The {email_kind} email could not be sent: {exc}. Ask an administrator or try again.") \
                from exc
        if not self.settings.smtp_host:
            # With no SMTP server the outbox is the only copy, so the link goes to the log as well.
            logger.info("accounts %s link for %s: %s", email_kind, user.name, link)


def _check_new_password(password: str, repeat: str, name: str, email: str | None) -> None:
    if password != repeat:
        raise InvalidInput("The passwords do not match: type the same password twice.")
    passwords.check_password_policy(password, name, email)


def _hours(hours: float) -> str:
    return f"{hours:g} hour" if hours == 1 else f"{hours:g} hours"
