"""Browser sessions: a random token in a cookie, stored as its SHA-256 hash with an expiry in `sessions`."""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from operatorflow.accounts.users import hash_token, new_token
from operatorflow.clock import Clock
from operatorflow.errors import NotFound, PermissionDenied
from operatorflow.registry import RunRegistry
from operatorflow.registry.schema import sessions, users

logger = logging.getLogger(__name__)

LAST_SEEN_RESOLUTION = dt.timedelta(minutes=1)
"""`last_seen_at` is written at most once a minute per session, because every script run checks the session."""


class SessionStore:
    def __init__(self, registry: RunRegistry, lifetime: dt.timedelta, clock: Clock | None = None) -> None:
        self._registry = registry
        self._lifetime = lifetime
        self._clock = clock or registry.clock

    @property
    def lifetime(self) -> dt.timedelta:
        return self._lifetime

    def start(self, user_name: str) -> str:
        """Start a session of `user_name` and return its token, which only the browser keeps.

        Raises NotFound for an unknown user and PermissionDenied for a disabled one.
        """
        token = new_token()
        now = self._clock.now()
        with self._registry.begin() as conn:
            disabled = conn.execute(sa.select(users.c.disabled).where(users.c.name == user_name)).scalar()
            if disabled is None:
                raise NotFound(f"No user {user_name!r}: a session needs an existing account.")
            if disabled:
                raise PermissionDenied(f"The account {user_name!r} is disabled: ask an administrator to enable it.")
            conn.execute(sessions.insert().values(
                token_hash=hash_token(token), user_name=user_name, created_at=now,
                expires_at=now + self._lifetime, last_seen_at=now,
            ))
        logger.info("accounts started a session of %s", user_name)
        return token

    def get_user(self, token: str) -> str | None:
        """Return the user of a live session.

        Returns None when the session is unknown, ended or expired, or its user is disabled or gone.
        """
        if not token:
            return None
        now = self._clock.now()
        digest = hash_token(token)
        query = (
            sa.select(sessions.c.user_name, sessions.c.last_seen_at)
            .select_from(sessions.join(users, users.c.name == sessions.c.user_name))
            .where(sessions.c.token_hash == digest, sessions.c.ended_at.is_(None), sessions.c.expires_at > now,
                   users.c.disabled.is_(False))
        )
        with self._registry.begin() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            if now - row.last_seen_at >= LAST_SEEN_RESOLUTION:
                conn.execute(sessions.update().where(sessions.c.token_hash == digest).values(last_seen_at=now))
        return row.user_name

    def end(self, token: str) -> None:
        with self._registry.begin() as conn:
            conn.execute(sessions.update().where(sessions.c.token_hash == hash_token(token),
                                                 sessions.c.ended_at.is_(None)).values(ended_at=self._clock.now()))

    def end_all(self, user_name: str) -> int:
        """End every open session of `user_name`, in every browser and tab; return how many ended."""
        now = self._clock.now()
        with self._registry.begin() as conn:
            ended = conn.execute(sessions.update().where(sessions.c.user_name == user_name,
                                                         sessions.c.ended_at.is_(None)).values(ended_at=now)).rowcount
            conn.execute(users.update().where(users.c.name == user_name).values(signed_out_at=now))
        logger.info("accounts ended %d session(s) of %s", ended, user_name)
        return ended

    def delete_expired(self) -> int:
        """Delete sessions that expired or ended more than one lifetime ago; return how many."""
        cutoff = self._clock.now() - self._lifetime
        with self._registry.begin() as conn:
            return conn.execute(sessions.delete().where(
                sa.or_(sessions.c.expires_at <= cutoff, sessions.c.ended_at <= cutoff)
            )).rowcount
