"""Local accounts in the registry database: users, email confirmation, password resets, sessions and mail."""

from __future__ import annotations

import datetime as dt
import logging

from operatorflow.accounts.mail import Mailer, OutboxMailer, SecretProvider, SmtpMailer, build_mailer
from operatorflow.accounts.passwords import PASSWORD_RULE
from operatorflow.accounts.service import (
    CONFIRM_PARAM, RESET_PARAM, SIGN_IN_FAILED, AccountLocked, AccountService, MailNotSent,
)
from operatorflow.accounts.sessions import SessionStore
from operatorflow.accounts.users import USERNAME_RULE, User, UserStore, normalize_username
from operatorflow.clock import Clock
from operatorflow.registry import RunRegistry
from operatorflow.settings import Settings

__all__ = [
    "CONFIRM_PARAM", "COOKIE_NAME", "PASSWORD_RULE", "RESET_PARAM", "SIGN_IN_FAILED", "USERNAME_RULE",
    "AccountLocked", "AccountService", "MailNotSent", "Mailer", "OutboxMailer", "SecretProvider",
    "SessionStore", "SmtpMailer", "User", "UserStore", "build_accounts", "build_mailer",
    "ensure_command_line_user", "normalize_username", "prepare_accounts",
]

logger = logging.getLogger(__name__)

COOKIE_NAME = "operatorflow_session"
"""Browser cookie that carries the session token."""


def build_accounts(settings: Settings, registry: RunRegistry, clock: Clock | None = None,
                   secret_provider: SecretProvider | None = None) -> AccountService:
    """Build the account service on the registry's database, importing an old accounts file on first start."""
    from operatorflow.accounts.legacy import import_accounts_file

    clock = clock or registry.clock
    users = UserStore(registry, clock)
    sessions = SessionStore(registry, dt.timedelta(days=settings.session_days), clock)
    import_accounts_file(settings, users)
    users.ensure_command_line_user(settings.default_user)
    # Each process start clears out rows that can no longer sign anyone in.
    removed_sessions, removed_tokens = sessions.delete_expired(), users.delete_expired_tokens()
    if removed_sessions or removed_tokens:
        logger.info("accounts deleted %d old session(s) and %d used or expired token(s)",
                    removed_sessions, removed_tokens)
    return AccountService(settings, users, sessions, build_mailer(settings, secret_provider, clock), clock)


def ensure_command_line_user(settings: Settings) -> bool:
    """Create the command line's account (`settings.default_user`) if missing; return True when created."""
    registry = RunRegistry(settings.resolved_database_url)
    try:
        return UserStore(registry).ensure_command_line_user(settings.default_user)
    finally:
        registry.dispose()


def prepare_accounts(settings: Settings) -> None:
    """Import an old accounts file and create the command-line user, before the app serves anyone."""
    from operatorflow.accounts.legacy import import_accounts_file

    registry = RunRegistry(settings.resolved_database_url)
    try:
        users = UserStore(registry)
        import_accounts_file(settings, users)
        if users.ensure_command_line_user(settings.default_user):
            logger.info("accounts created the command-line user %s", settings.default_user)
    finally:
        registry.dispose()
