"""UserStore: accounts, roles, external sign-ins and emailed tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from operatorflow.accounts import UserStore
from operatorflow.accounts.users import PURPOSE_CONFIRM, PURPOSE_RESET, hash_token
from operatorflow.errors import InvalidInput, NotFound
from operatorflow.registry.schema import account_tokens


@pytest.fixture
def users(registry, clock):
    return UserStore(registry, clock)


def test_created_user_round_trips(users, clock):
    created = users.create("ada", email="ada@example.com", source="local", password_hash="$2b$hash")

    assert created == users.get("ada")
    assert created.created_at == clock.now()
    assert not created.confirmed
    assert not created.is_admin
    assert "password_hash" not in created.to_dict()


def test_taken_name_and_email_are_rejected(users):
    users.create("ada", email="ada@example.com", source="local")

    with pytest.raises(InvalidInput) as name_taken:
        users.create("ada", email="other@example.com", source="local")
    with pytest.raises(InvalidInput) as email_taken:
        users.create("grace", email="ada@example.com", source="local")

    assert str(name_taken.value) == "The username 'ada' is already taken: choose another one."
    assert str(email_taken.value) == ("The email address 'ada@example.com' already belongs to an account: "
                                      "sign in, or reset the password of that account.")


def test_unknown_user_raises_not_found(users):
    with pytest.raises(NotFound) as caught:
        users.get("nobody")

    assert str(caught.value) == "No user 'nobody': check the name with `operatorflow users list`."


def test_is_admin_only_for_enabled_administrators(users):
    users.create("root1", email=None, source="local", is_admin=True)
    users.create("ada", email=None, source="local")

    before = (users.is_admin("root1"), users.is_admin("ada"), users.is_admin("nobody"))
    users.set_disabled("root1", True)

    assert before == (True, False, False)
    assert not users.is_admin("root1")


def test_external_user_created_confirmed_once(users):
    first = users.ensure_external_user("grace@corp", "Grace@Example.com", "cognito")
    second = users.ensure_external_user("grace@corp", "grace@example.com", "cognito")

    assert first == second
    assert first.confirmed
    assert first.email == "grace@example.com"
    assert first.source == "cognito"
    assert first.password_hash is None


def test_external_user_cannot_take_local_name(users):
    users.create("ada", email=None, source="local")

    with pytest.raises(InvalidInput) as caught:
        users.ensure_external_user("ada", None, "alb")

    assert str(caught.value) == ("The user name 'ada' belongs to a local account, so a alb sign-in cannot use it: "
                                 "ask an administrator to rename one of them.")


def test_external_user_rejects_unknown_source(users):
    with pytest.raises(InvalidInput) as caught:
        users.ensure_external_user("grace", None, "ldap")

    assert str(caught.value) == "Unknown account source 'ldap': use one of cognito, alb."


def test_command_line_user_is_admin_without_password(users):
    created = users.ensure_command_line_user("local")
    created_again = users.ensure_command_line_user("local")

    user = users.get("local")
    assert (created, created_again) == (True, False)
    assert user.source == "command-line"
    assert user.is_admin
    assert user.password_hash is None


def test_token_stored_as_sha256_only(users, registry):
    users.create("ada", email=None, source="local")

    token = users.issue_token("ada", PURPOSE_CONFIRM, dt.timedelta(hours=24))

    with registry.begin() as conn:
        stored = conn.execute(sa.select(account_tokens.c.token_hash)).scalars().all()
    assert stored == [hash_token(token)]
    assert len(token) >= 43


def test_token_works_once(users):
    users.create("ada", email=None, source="local")
    token = users.issue_token("ada", PURPOSE_RESET, dt.timedelta(hours=1))

    name = users.use_token(token, PURPOSE_RESET)
    with pytest.raises(InvalidInput) as caught:
        users.use_token(token, PURPOSE_RESET)

    assert name == "ada"
    assert str(caught.value) == "This password-reset link was already used: ask for a new one if you still need it."


def test_token_expires(users, clock):
    users.create("ada", email=None, source="local")
    token = users.issue_token("ada", PURPOSE_CONFIRM, dt.timedelta(hours=24))
    clock.advance(24 * 3600)

    with pytest.raises(InvalidInput) as caught:
        users.use_token(token, PURPOSE_CONFIRM)

    assert str(caught.value) == "This confirmation link expired at 2026-01-02 00:00 UTC: ask for a new one."


def test_token_of_other_purpose_is_invalid(users):
    users.create("ada", email=None, source="local")
    token = users.issue_token("ada", PURPOSE_RESET, dt.timedelta(hours=1))

    with pytest.raises(InvalidInput) as caught:
        users.use_token(token, PURPOSE_CONFIRM)

    assert str(caught.value) == ("This confirmation link is not valid: copy the whole link from the email, "
                                 "or ask for a new one.")


def test_failures_lock_then_restart_after_lock(users, clock):
    users.create("ada", email=None, source="local")
    lock_for = dt.timedelta(minutes=15)

    counts = [users.record_failed_sign_in("ada", 3, lock_for).failed_sign_ins for _ in range(2)]
    locked = users.record_failed_sign_in("ada", 3, lock_for)
    clock.advance(15 * 60)
    after_lock = users.record_failed_sign_in("ada", 3, lock_for)

    assert counts == [1, 2]
    assert locked.locked_until == clock.now()
    assert after_lock.failed_sign_ins == 1


def test_delete_expired_tokens_keeps_usable_ones(users, clock):
    users.create("ada", email=None, source="local")
    used = users.issue_token("ada", PURPOSE_RESET, dt.timedelta(hours=1))
    users.use_token(used, PURPOSE_RESET)
    expiring = users.issue_token("ada", PURPOSE_CONFIRM, dt.timedelta(hours=1))
    clock.advance(3600)
    usable = users.issue_token("ada", PURPOSE_CONFIRM, dt.timedelta(hours=24))

    deleted = users.delete_expired_tokens()

    assert deleted == 2
    assert users.check_token(usable, PURPOSE_CONFIRM) == "ada"
    assert users.check_token(expiring, PURPOSE_CONFIRM) is None
