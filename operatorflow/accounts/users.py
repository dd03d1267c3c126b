"""Accounts in the registry database: users, their roles and sign-in counters, and emailed one-time tokens."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import secrets
from typing import Any

import sqlalchemy as sa

from operatorflow.clock import Clock
from operatorflow.errors import InvalidInput, NotFound
from operatorflow.registry import RunRegistry
from operatorflow.registry.schema import account_tokens, users

logger = logging.getLogger(__name__)

USERNAME_RULE = "3 to 20 letters, digits, '_' or '-', starting with a letter or digit (stored in lowercase)"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_-]{2,19}$")
# Names that other sign-in methods bring (Cognito, a load balancer) follow the run owner rule instead.
_EXTERNAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

SOURCE_LOCAL = "local"
SOURCE_COMMAND_LINE = "command-line"
EXTERNAL_SOURCES = ("cognito", "alb")

PURPOSE_CONFIRM = "confirm"
PURPOSE_RESET = "reset"


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    email: str | None
    source: str
    is_admin: bool
    disabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    display_name: str | None = None
    password_hash: str | None = dataclasses.field(default=None, repr=False)
    confirmed_at: dt.datetime | None = None
    failed_sign_ins: int = 0
    last_failed_sign_in_at: dt.datetime | None = None
    locked_until: dt.datetime | None = None
    signed_out_at: dt.datetime | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    def to_dict(self) -> dict[str, Any]:
        """Return the account without its password hash, timestamps in ISO 8601."""
        data = dataclasses.asdict(self)
        data.pop("password_hash")
        for key, value in data.items():
            if isinstance(value, dt.datetime):
                data[key] = value.isoformat()
        return data


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest stored in place of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """Return a random URL-safe token with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def normalize_username(name: str) -> str:
    return name.strip().lower()


def check_username(name: str, reserved: set[str] = frozenset()) -> str:
    """Return the normalized username, or raise InvalidInput naming the rule it breaks."""
    normalized = normalize_username(name)
    if normalized in reserved:
        raise InvalidInput(f"The username {normalized!r} is reserved for the command line: choose another one.")
    if not _USERNAME.match(normalized):
        raise InvalidInput(f"Invalid username {normalized!r}: use {USERNAME_RULE}.")
    return normalized


def check_email(address: str) -> str:
    """Return the address in lowercase, or raise InvalidInput when it is not of the form name@example.com."""
    normalized = address.strip().lower()
    if len(normalized) > 320 or not _EMAIL.match(normalized):
        raise InvalidInput(f"Invalid email address {address.strip()!r}: use the form name@example.com.")
    return normalized


class UserStore:
    """Rows of the `users` and `account_tokens` tables; every change is one transaction."""

    def __init__(self, registry: RunRegistry, clock: Clock | None = None) -> None:
        self._registry = registry
        self._clock = clock or registry.clock

    # Reading

    def get(self, name: str) -> User:
        """Return the account `name`; raise NotFound when there is none."""
        user = self.find(name)
        if user is None:
            raise NotFound(f"No user {name!r}: check the name with `operatorflow users list`.")
        return user

    def find(self, name: str) -> User | None:
        with self._registry.begin() as conn:
            row = conn.execute(users.select().where(users.c.name == normalize_username(name))).mappings().first()
        return _to_user(row) if row else None

    def find_by_name_or_email(self, value: str) -> User | None:
        normalized = value.strip().lower()
        column = users.c.email if "@" in normalized else users.c.name
        with self._registry.begin() as conn:
            row = conn.execute(users.select().where(column == normalized)).mappings().first()
        return _to_user(row) if row else None

    def list_users(self) -> list[User]:
        with self._registry.begin() as conn:
            rows = conn.execute(users.select().order_by(users.c.name)).mappings().all()
        return [_to_user(row) for row in rows]

    def is_admin(self, name: str) -> bool:
        """Return True for an enabled administrator; False for anyone else, unknown names included."""
        user = self.find(name)
        return user is not None and user.is_admin and not user.disabled

    # Creating

    def create(self, name: str, *, email: str | None, source: str, password_hash: str | None = None,
               is_admin: bool = False, confirmed: bool = False, display_name: str | None = None) -> User:
        """Insert a new account; raise InvalidInput when the name or the email address is taken."""
        now = self._clock.now()
        values = {
            "name": name,
            "email": email,
            "display_name": display_name,
            "source": source,
            "password_hash": password_hash,
            "is_admin": is_admin,
            "disabled": False,
            "confirmed_at": now if confirmed else None,
            "created_at": now,
            "updated_at": now,
            "failed_sign_ins": 0,
        }
        try:
            with self._registry.begin() as conn:
                conn.execute(users.insert().values(**values))
        except sa.exc.IntegrityError as exc:
            raise self._taken_error(name, email) from exc
        logger.info("accounts created %s user %s (admin: %s, confirmed: %s)", source, name, is_admin, confirmed)
        return self.get(name)

    def ensure_external_user(self, name: str, email: str | None, source: str) -> User:
        """Return the account of a user proved by another sign-in method, creating it confirmed on first sign-in.

        Raises InvalidInput for an unknown source or a malformed name, and when `name` belongs to an
        account of another source, so an outside identity never takes over a local account.
        """
        if source not in EXTERNAL_SOURCES:
            raise InvalidInput(f"Unknown account source {source!r}: use one of {', '.join(EXTERNAL_SOURCES)}.")
        if not _EXTERNAL_NAME.match(name):
            raise InvalidInput(f"Invalid user name {name!r} from {source}: use letters, digits, '.', '_', '@' or '-'.")

        existing = self.find(name)
        if existing is None:
            try:
                return self.create(name, email=email.strip().lower() if email else None, source=source,
                                   confirmed=True)
            except InvalidInput:
                # Another process created the same user a moment ago; that row serves as well.
                existing = self.find(name)
                if existing is None:
                    raise
        if existing.source != source:
            raise InvalidInput(
                f"The user name {name!r} belongs to a {existing.source} account, so a {source} sign-in cannot use "
                "it: ask an administrator to rename one of them."
            )
        return existing

    def ensure_command_line_user(self, name: str) -> bool:
        """Create the command line's administrator account if missing; return True when created.

        It has no password, so this user cannot sign in through the browser.
        """
        if self.find(name) is not None:
            return False
        try:
            self.create(name, email=None, source=SOURCE_COMMAND_LINE, is_admin=True, confirmed=True)
        except InvalidInput:
            return False
        return True

    # Changing

    def set_disabled(self, name: str, disabled: bool) -> User:
        self._update(name, disabled=disabled)
        logger.info("accounts %s user %s", "disabled" if disabled else "enabled", name)
        return self.get(name)

    def set_password(self, name: str, password_hash: str) -> None:
        """Store a new password hash and clear failed sign-ins and any lock."""
        self._update(name, password_hash=password_hash, failed_sign_ins=0, locked_until=None)

    def confirm(self, name: str) -> User:
        self._update(name, confirmed_at=self._clock.now())
        return self.get(name)

    def record_sign_in(self, name: str) -> None:
        self._update(name, failed_sign_ins=0, locked_until=None)

    def record_failed_sign_in(self, name: str, max_failures: int, lock_for: dt.timedelta) -> User:
        """Count one failed sign-in; at `max_failures` in a row lock the account for `lock_for` and restart the count.

        A lock that has run out restarts the count, so the failures of before it do not lock the
        account again at the first mistake.
        """
        now = self._clock.now()
        with self._registry.begin() as conn:
            row = conn.execute(users.select().where(users.c.name == name).with_for_update()).mappings().first()
            if row is None:
                raise NotFound(f"No user {name!r}.")
            failures = row["failed_sign_ins"]
            if row["locked_until"] is not None and row["locked_until"] <= now:
                failures = 0
            failures += 1
            values: dict[str, Any] = {"failed_sign_ins": failures, "last_failed_sign_in_at": now, "updated_at": now}
            if failures >= max_failures:
                values["locked_until"] = now + lock_for
                values["failed_sign_ins"] = 0
            conn.execute(users.update().where(users.c.name == name).values(**values))
        if "locked_until" in values:
            logger.warning("accounts locked user %s until %s after %d failed sign-ins",
                           name, values["locked_until"].isoformat(), failures)
        return self._with_failures(row, values)

    # Tokens sent by email

    def issue_token(self, name: str, purpose: str, lifetime: dt.timedelta) -> str:
        """Store the hash of a new single-use token for `purpose` and return the token itself."""
        token = new_token()
        now = self._clock.now()
        with self._registry.begin() as conn:
            conn.execute(account_tokens.insert().values(
                token_hash=hash_token(token), user_name=name, purpose=purpose,
                created_at=now, expires_at=now + lifetime,
            ))
        return token

    def use_token(self, token: str, purpose: str) -> str:
        """Mark a token used and return its user's name; raise InvalidInput when it is unknown, used or expired."""
        now = self._clock.now()
        digest = hash_token(token.strip())
        link_kind = "confirmation" if purpose == PURPOSE_CONFIRM else "password-reset"
        with self._registry.begin() as conn:
            row = conn.execute(account_tokens.select().where(
                account_tokens.c.token_hash == digest, account_tokens.c.purpose == purpose,
            )).mappings().first()
            if row is None:
                raise InvalidInput(f"This {link_kind} link is not valid: copy the whole link from the email, "
                                   "or ask for a new one.")
            if row["used_at"] is not None:
                raise InvalidInput(f"This {link_kind} link was already used: ask for a new one if you still need it.")
            if row["expires_at"] <= now:
                raise InvalidInput(f"This {link_kind} link expired at {row['expires_at']:%Y-%m-%d %H:%M} UTC: "
                                   "ask for a new one.")
            # The used_at condition makes two concurrent uses of one token succeed at most once.
            updated = conn.execute(account_tokens.update().where(
                account_tokens.c.token_hash == digest, account_tokens.c.used_at.is_(None),
            ).values(used_at=now)).rowcount
        if updated != 1:
            raise InvalidInput(f"This {link_kind} link was already used: ask for a new one if you still need it.")
        return row["user_name"]

    def expire_tokens(self, name: str, purpose: str) -> int:
        """Mark every unused token of `name` for `purpose` used, so older links stop working; return how many."""
        now = self._clock.now()
        with self._registry.begin() as conn:
            return conn.execute(account_tokens.update().where(
                account_tokens.c.user_name == name, account_tokens.c.purpose == purpose,
                account_tokens.c.used_at.is_(None),
            ).values(used_at=now)).rowcount

    def check_token(self, token: str, purpose: str) -> str | None:
        """Return the user name of a token that is still usable, without using it; None otherwise."""
        now = self._clock.now()
        with self._registry.begin() as conn:
            row = conn.execute(account_tokens.select().where(
                account_tokens.c.token_hash == hash_token(token.strip()), account_tokens.c.purpose == purpose,
                account_tokens.c.used_at.is_(None), account_tokens.c.expires_at > now,
            )).mappings().first()
        return row["user_name"] if row else None

    def delete_expired_tokens(self) -> int:
        """Delete tokens that expired or were used; return how many."""
        now = self._clock.now()
        with self._registry.begin() as conn:
            return conn.execute(account_tokens.delete().where(
                sa.or_(account_tokens.c.expires_at <= now, account_tokens.c.used_at.is_not(None))
            )).rowcount

    # Internals

    def _with_failures(self, row: Any, values: dict[str, Any]) -> User:
        user = _to_user(row)
        return dataclasses.replace(
            user,
            failed_sign_ins=values["failed_sign_ins"],
            last_failed_sign_in_at=values["last_failed_sign_in_at"],
            locked_until=values.get("locked_until", user.locked_until),
        )

    def _update(self, name: str, **values: Any) -> None:
        values["updated_at"] = self._clock.now()
        with self._registry.begin() as conn:
            count = conn.execute(users.update().where(users.c.name == name).values(**values)).rowcount
        if count != 1:
            raise NotFound(f"No user {name!r}: check the name with `operatorflow users list`.")

    def _taken_error(self, name: str, email: str | None) -> InvalidInput:
        if self.find(name) is not None:
            return InvalidInput(f"The username {name!r} is already taken: choose another one.")
        if email:
            return InvalidInput(f"The email address {email!r} already belongs to an account: sign in, or reset "
                                "the password of that account.")
        return InvalidInput(f"The account {name!r} could not be created because it conflicts with another one.")


def _to_user(row: Any) -> User:
    data = dict(row)
    data["is_admin"] = bool(data["is_admin"])
    data["disabled"] = bool(data["disabled"])
    return User(**data)
