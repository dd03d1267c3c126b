"""The `operatorflow users` commands, on SQLite and PostgreSQL: add, list, disable, enable, and who may run them."""

from __future__ import annotations

import io
import json

import pytest

from operatorflow import cli
from operatorflow.accounts import passwords
from tests.outbox import link_token, outbox_messages

PASSWORD = "Lovelace#1843"


@pytest.fixture
def settings_env(settings, database_url, monkeypatch):
    monkeypatch.setenv("OPERATORFLOW_HOME", str(settings.home))
    monkeypatch.setenv("OPERATORFLOW_DATABASE_URL", database_url)
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)
    return settings


def users_json(capsys) -> dict:
    capsys.readouterr()
    assert cli.main(["users", "list", "--json"]) == 0
    return {u["name"]: u for u in json.loads(capsys.readouterr().out)}


def test_add_with_password_stdin_makes_confirmed_account(settings_env, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))

    code = cli.main(["users", "add", "Ada", "--email", "ada@example.com", "--admin", "--password-stdin"])

    assert code == 0
    assert capsys.readouterr().out == "ada added\n"
    listed = users_json(capsys)
    assert listed["ada"]["is_admin"] is True
    assert listed["ada"]["confirmed_at"] is not None
    assert "password_hash" not in listed["ada"]
    assert outbox_messages(settings_env.home) == []


def test_add_without_password_prints_and_emails_link(settings_env, capsys):
    code = cli.main(["users", "add", "grace", "--email", "grace@example.com"])

    out = capsys.readouterr().out.splitlines()
    [message] = outbox_messages(settings_env.home)
    assert code == 0
    assert out[0] == ("grace added. It has no password yet: the link below, also emailed to grace@example.com, "
                      "sets one and works once:")
    assert out[1] == f"https://localhost:8501/?reset={link_token(message, 'reset')}"


def test_weak_password_from_stdin_exits_2(settings_env, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))

    code = cli.main(["users", "add", "ada", "--email", "ada@example.com", "--password-stdin"])

    assert code == 2
    assert capsys.readouterr().err == "error: The password is too short: use at least 12 characters.\n"
    assert "ada" not in users_json(capsys)


def test_list_shows_command_line_user(settings_env, capsys):
    code = cli.main(["users", "list"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].split() == ["NAME", "EMAIL", "SOURCE", "ADMIN", "STATE", "LOCKED", "UNTIL", "(UTC)"]
    assert lines[1].split() == ["local", "-", "command-line", "yes", "confirmed", "-"]


def test_disable_and_enable(settings_env, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    cli.main(["users", "add", "ada", "--email", "ada@example.com", "--password-stdin"])
    capsys.readouterr()

    disabled = cli.main(["users", "disable", "ada"])
    disabled_out = capsys.readouterr().out
    state_after_disable = users_json(capsys)["ada"]["disabled"]
    enabled = cli.main(["users", "enable", "ada"])

    assert (disabled, enabled) == (0, 0)
    assert disabled_out == "ada disabled\n"
    assert state_after_disable is True
    assert capsys.readouterr().out == "ada enabled\n"


def test_non_admin_user_is_not_permitted(settings_env, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    cli.main(["users", "add", "ada", "--email", "ada@example.com", "--password-stdin"])
    capsys.readouterr()

    code = cli.main(["users", "disable", "local", "--user", "ada"])

    assert code == cli.EXIT_NOT_PERMITTED
    assert capsys.readouterr().err == (
        "error: User 'ada' is not permitted to run `users disable`: only an administrator may manage accounts. "
        "Ask one.\n"
    )


def test_admin_user_may_manage_users(settings_env, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    cli.main(["users", "add", "boss", "--email", "boss@example.com", "--admin", "--password-stdin"])
    capsys.readouterr()

    code = cli.main(["users", "add", "grace", "--email", "grace@example.com", "--user", "boss"])

    assert code == 0
    assert "grace" in users_json(capsys)


def test_unknown_user_cannot_be_disabled(settings_env, capsys):
    code = cli.main(["users", "disable", "nobody"])

    assert code == 2
    assert capsys.readouterr().err == "error: No user 'nobody': check the name with `operatorflow users list`.\n"


def test_command_line_user_cannot_be_disabled(settings_env, capsys):
    code = cli.main(["users", "disable", "local"])

    assert code == 2
    assert capsys.readouterr().err == "error: The command-line user 'local' cannot be disabled.\n"
