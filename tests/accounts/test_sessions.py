"""SessionStore: hashed tokens with expiry; ending, disabling and expiring sign the user out."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from operatorflow.accounts import SessionStore, UserStore
from operatorflow.accounts.users import hash_token
from operatorflow.errors import NotFound, PermissionDenied
from operatorflow.registry.schema import sessions as sessions_table


@pytest.fixture
def users(registry, clock):
    store = UserStore(registry, clock)
    store.create("ada", email=None, source="local", confirmed=True)
    store.create("grace", email=None, source="local", confirmed=True)
    return store


@pytest.fixture
def sessions(registry, clock, users):
    return SessionStore(registry, dt.timedelta(days=7), clock)


def test_started_session_finds_its_user(sessions, registry):
    token = sessions.start("ada")

    with registry.begin() as conn:
        stored = conn.execute(sa.select(sessions_table.c.token_hash)).scalars().all()
    assert sessions.get_user(token) == "ada"
    assert stored == [hash_token(token)]


def test_start_rejects_disabled_and_unknown_users(sessions, users):
    users.set_disabled("ada", True)

    with pytest.raises(PermissionDenied) as disabled:
        sessions.start("ada")
    with pytest.raises(NotFound) as unknown:
        sessions.start("nobody")

    assert str(disabled.value) == "The account 'ada' is disabled: ask an administrator to enable it."
    assert str(unknown.value) == "No user 'nobody': a session needs an existing account."


def test_unknown_token_finds_nobody(sessions):
    sessions.start("ada")

    assert sessions.get_user("forged-token") is None
    assert sessions.get_user("") is None


def test_session_expires_after_lifetime(sessions, clock):
    token = sessions.start("ada")

    clock.advance(7 * 86400 - 1)
    alive = sessions.get_user(token)
    clock.advance(1)

    assert alive == "ada"
    assert sessions.get_user(token) is None


def test_end_all_ends_every_session_of_user_only(sessions, users):
    first, second = sessions.start("ada"), sessions.start("ada")
    other = sessions.start("grace")

    ended = sessions.end_all("ada")

    assert ended == 2
    assert sessions.get_user(first) is None
    assert sessions.get_user(second) is None
    assert sessions.get_user(other) == "grace"
    assert users.get("ada").signed_out_at is not None


def test_disabled_user_session_stops_working(sessions, users):
    token = sessions.start("ada")

    users.set_disabled("ada", True)

    assert sessions.get_user(token) is None


def test_end_ends_one_session(sessions):
    first, second = sessions.start("ada"), sessions.start("ada")

    sessions.end(first)

    assert sessions.get_user(first) is None
    assert sessions.get_user(second) == "ada"


def test_delete_expired_keeps_live_sessions(sessions, clock):
    old = sessions.start("ada")
    clock.advance(8 * 86400)
    live = sessions.start("ada")
    clock.advance(7 * 86400 - 10)

    deleted = sessions.delete_expired()

    assert deleted == 1
    assert sessions.get_user(old) is None
    assert sessions.get_user(live) == "ada"
