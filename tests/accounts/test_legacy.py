"""Import of the old accounts file into the database on first start."""

from __future__ import annotations

import logging

import bcrypt
import yaml

from operatorflow.accounts import build_accounts
from operatorflow.accounts.legacy import import_accounts_file

PASSWORD = "Lovelace#1843"


def write_accounts_file(settings, usernames: dict) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    config = {"cookie": {"name": "operatorflow_auth", "key": "k" * 40, "expiry_days": 7},
              "credentials": {"usernames": usernames}}
    (settings.home / "accounts.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


def old_entry(email: str | None, roles=None) -> dict:
    return {"email": email, "first_name": "Ada", "last_name": "Lovelace", "logged_in": False, "roles": roles,
            "password": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}


def test_old_users_keep_password_and_count_as_confirmed(account_settings, registry, clock, caplog):
    write_accounts_file(account_settings, {
        "ada": old_entry("ada@example.com"),
        "boss": old_entry("boss@example.com", roles=["admin"]),
        "local": old_entry(None, roles=["command-line"]),
    })

    with caplog.at_level(logging.INFO, logger="operatorflow.accounts.legacy"):
        account_service = build_accounts(account_settings, registry, clock)

    ada = account_service.sign_in("ada", PASSWORD)
    assert ada.confirmed
    assert ada.display_name == "Ada Lovelace"
    assert account_service.users.is_admin("boss")
    assert account_service.users.get("local").source == "command-line"
    assert not (account_settings.home / "accounts.yaml").exists()
    assert (account_settings.home / "accounts.yaml.imported").is_file()
    assert caplog.messages == [f"accounts imported 2 user(s) from {account_settings.home / 'accounts.yaml'} "
                               "and renamed it to accounts.yaml.imported"]


def test_import_skips_existing_and_unhashed_users(account_settings, registry, clock):
    account_service = build_accounts(account_settings, registry, clock)
    account_service.users.create("ada", email="ada@new.example.com", source="local")
    write_accounts_file(account_settings, {"ada": old_entry("ada@example.com"),
                                           "plain": old_entry("p@example.com") | {"password": "clear-text"}})

    added = import_accounts_file(account_settings, account_service.users)

    assert added == 0
    assert account_service.users.get("ada").email == "ada@new.example.com"
    assert account_service.users.find("plain") is None


def test_no_accounts_file_imports_nothing(account_settings, registry, clock):
    account_service = build_accounts(account_settings, registry, clock)

    assert import_accounts_file(account_settings, account_service.users) == 0
