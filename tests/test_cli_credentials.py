"""The `operatorflow credentials` commands: values from standard input only, masked listing, shared for admins."""

from __future__ import annotations

import io
import json

import pytest

from operatorflow import cli
from operatorflow.credentials.keys import KEY_BYTES, generate_key, parse_key
from operatorflow.factory import build_service
from operatorflow.settings import load_settings
from tests.credentials.conftest import add_user

SECRET = "registry-password-0123-WXYZ"


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("OPERATORFLOW_HOME", str(home))
    return home


@pytest.fixture
def service(home):
    service = build_service(load_settings())
    yield service
    service.registry.dispose()


def set_from_stdin(monkeypatch, args: list[str], value: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(value))
    return cli.main(["credentials", "set", *args])


def test_set_reads_value_from_stdin(home, service, monkeypatch, capsys):
    code = set_from_stdin(monkeypatch, ["registry-password", "--user", "ada"], SECRET + "\n")

    assert code == 0
    assert capsys.readouterr().out == "Stored registry-password (ada).\n"
    assert service.credentials.resolve_credential("ada", "registry-password") == SECRET


def test_set_rejects_value_argument(home, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["credentials", "set", "registry-password", SECRET])

    assert exited.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_set_empty_stdin_fails(home, monkeypatch, capsys):
    code = set_from_stdin(monkeypatch, ["smtp-password"], "\n")

    assert code == 2
    assert capsys.readouterr().err == (
        "error: The value of credential smtp-password is empty: enter the secret itself.\n"
    )


def test_list_masks_values(home, monkeypatch, capsys):
    set_from_stdin(monkeypatch, ["registry-password", "--user", "ada"], SECRET)
    capsys.readouterr()

    code = cli.main(["credentials", "list", "--user", "ada", "--json"])

    out = capsys.readouterr().out
    [document] = json.loads(out)
    assert code == 0
    assert (document["name"], document["scope"], document["preview"], document["updated_by"]) == (
        "registry-password", "user:ada", "••••WXYZ", "ada")
    assert SECRET not in out


def test_delete_then_delete_again_fails(home, monkeypatch, capsys):
    set_from_stdin(monkeypatch, ["smtp-password", "--user", "ada"], SECRET)

    first = cli.main(["credentials", "delete", "smtp-password", "--user", "ada"])
    second = cli.main(["credentials", "delete", "smtp-password", "--user", "ada"])

    assert (first, second) == (0, 2)
    assert capsys.readouterr().err == (
        "error: There is no credential smtp-password in your credentials; `operatorflow credentials list` "
        "shows them.\n"
    )


def test_shared_needs_admin(home, service, monkeypatch, capsys):
    denied = set_from_stdin(monkeypatch, ["smtp-password", "--shared", "--user", "ada"], SECRET)
    add_user(service.registry, "root", is_admin=True)
    allowed = set_from_stdin(monkeypatch, ["smtp-password", "--shared", "--user", "root"], SECRET)

    assert (denied, allowed) == (4, 0)
    assert "error: Only administrators may change shared credentials, and ada is not one" in capsys.readouterr().err
    assert service.credentials.resolve_credential("ada", "smtp-password") == SECRET


def test_generate_key_prints_valid_key(home, capsys):
    code = cli.main(["credentials", "generate-key"])

    key = capsys.readouterr().out.strip()
    assert code == 0
    assert len(parse_key(key, "printed key")) == KEY_BYTES


def test_reencrypt_moves_values_to_new_key(home, service, monkeypatch, capsys):
    old, new = generate_key(), generate_key()
    monkeypatch.setenv("OPERATORFLOW_CREDENTIALS_KEY", old)
    set_from_stdin(monkeypatch, ["smtp-password", "--user", "ada"], SECRET)
    add_user(service.registry, "root", is_admin=True)
    monkeypatch.setenv("OPERATORFLOW_CREDENTIALS_KEY", new)
    monkeypatch.setenv("OPERATORFLOW_CREDENTIALS_OLD_KEYS", old)
    capsys.readouterr()

    code = cli.main(["credentials", "reencrypt", "--user", "root"])

    assert code == 0
    assert capsys.readouterr().out == "Re-encrypted 1 credential(s) with the current key.\n"
    monkeypatch.delenv("OPERATORFLOW_CREDENTIALS_OLD_KEYS")
    assert cli.main(["credentials", "list", "--user", "ada", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["preview"] == "••••WXYZ"
