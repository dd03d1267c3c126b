"""Local accounts: the accounts file, its cookie key, stored accounts and the command-line user."""

from __future__ import annotations

import stat

import bcrypt
import jwt
import pytest
import yaml
from streamlit_authenticator.utilities import RegisterError

from operatorflow import accounts
from operatorflow.errors import InvalidInput
from operatorflow.settings import load_settings

PASSWORD = "Lovelace#1843"


def hashed_entry(password: str = PASSWORD) -> dict:
    return {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password": bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode(),
        "roles": None,
        "logged_in": False,
    }


def test_first_load_creates_private_file_with_random_key(settings):
    config = accounts.load_accounts(settings)

    path = accounts.accounts_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(config["cookie"]["key"]) >= 32
    assert config["cookie"]["key"] != "some_key"
    assert config["cookie"]["name"] == accounts.COOKIE_NAME
    assert config["credentials"]["usernames"] == {}


def test_cookie_key_kept_across_loads(settings):
    first = accounts.load_accounts(settings)

    second = accounts.load_accounts(settings)

    assert second["cookie"]["key"] == first["cookie"]["key"]


def test_each_data_folder_gets_its_own_key(tmp_path, settings):
    other = load_settings(home=tmp_path / "other")

    assert accounts.load_accounts(settings)["cookie"]["key"] != accounts.load_accounts(other)["cookie"]["key"]


def test_weak_cookie_key_is_replaced(settings):
    accounts.load_accounts(settings)
    path = accounts.accounts_path(settings)
    config = yaml.safe_load(path.read_text())
    config["cookie"]["key"] = "some_key"
    path.write_text(yaml.safe_dump(config))

    reloaded = accounts.load_accounts(settings)

    assert len(reloaded["cookie"]["key"]) >= 32
    assert yaml.safe_load(path.read_text())["cookie"]["key"] == reloaded["cookie"]["key"]


def test_added_account_round_trips_with_hash_only(settings):
    accounts.load_accounts(settings)

    accounts.add_account(settings, "ada", hashed_entry())

    stored = accounts.load_accounts(settings)["credentials"]["usernames"]["ada"]
    assert bcrypt.checkpw(PASSWORD.encode(), stored["password"].encode())
    assert PASSWORD not in accounts.accounts_path(settings).read_text()
    assert stat.S_IMODE(accounts.accounts_path(settings).stat().st_mode) == 0o600


def test_plain_password_is_never_stored(settings):
    accounts.load_accounts(settings)
    entry = hashed_entry() | {"password": PASSWORD}

    with pytest.raises(ValueError, match="must be stored with a bcrypt hash"):
        accounts.add_account(settings, "ada", entry)

    assert PASSWORD not in accounts.accounts_path(settings).read_text()


def test_taken_username_is_rejected(settings):
    accounts.load_accounts(settings)
    accounts.add_account(settings, "ada", hashed_entry())

    with pytest.raises(InvalidInput) as caught:
        accounts.add_account(settings, "ada", hashed_entry("Other#pass1"))

    assert str(caught.value) == "The username 'ada' is already taken: choose another one."


def sign_in_cookie(config: dict, username: str, issued_at: float) -> str:
    """Encode a cookie as streamlit-authenticator 0.4.2 does: username and expiry, signed with the key."""
    expires = issued_at + config["cookie"]["expiry_days"] * 86400
    return jwt.encode({"username": username, "exp_date": expires}, config["cookie"]["key"], algorithm="HS256")


def test_cookie_before_sign_out_is_rejected(settings):
    accounts.load_accounts(settings)
    accounts.add_account(settings, "ada", hashed_entry())
    config = accounts.load_accounts(settings)
    cookie = sign_in_cookie(config, "ada", issued_at=1_000.0)

    accounts.record_sign_out(settings, "ada", 2_000.0)

    assert accounts.is_cookie_signed_out(accounts.load_accounts(settings), cookie)


def test_cookie_after_sign_out_is_accepted(settings):
    accounts.load_accounts(settings)
    accounts.add_account(settings, "ada", hashed_entry())
    accounts.record_sign_out(settings, "ada", 2_000.0)
    config = accounts.load_accounts(settings)

    cookie = sign_in_cookie(config, "ada", issued_at=3_000.0)

    assert not accounts.is_cookie_signed_out(config, cookie)


def test_cookie_of_user_never_signed_out_is_accepted(settings):
    accounts.load_accounts(settings)
    accounts.add_account(settings, "ada", hashed_entry())
    config = accounts.load_accounts(settings)

    assert not accounts.is_cookie_signed_out(config, sign_in_cookie(config, "ada", issued_at=1_000.0))


def test_undecodable_cookie_left_to_library(settings):
    config = accounts.load_accounts(settings)
    forged = jwt.encode({"username": "ada", "exp_date": 1.0}, "another-key-" * 4, algorithm="HS256")

    assert not accounts.is_cookie_signed_out(config, "not-a-token")
    assert not accounts.is_cookie_signed_out(config, forged)


def test_command_line_user_created_once(settings):
    created = accounts.ensure_command_line_user(settings)
    created_again = accounts.ensure_command_line_user(settings)

    entry = accounts.load_accounts(settings)["credentials"]["usernames"][settings.default_user]
    assert (created, created_again) == (True, False)
    assert entry["password"].startswith("$2b$")
    assert entry["roles"] == ["command-line"]


def test_command_line_user_password_is_unusable(settings):
    accounts.ensure_command_line_user(settings)

    entry = accounts.load_accounts(settings)["credentials"]["usernames"][settings.default_user]

    for guess in ("", settings.default_user, "password", "local#Local1"):
        assert not bcrypt.checkpw(guess.encode(), entry["password"].encode())


def test_malformed_file_raises_invalid_input(settings):
    path = accounts.accounts_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text("- just\n- a list\n")

    with pytest.raises(InvalidInput) as caught:
        accounts.load_accounts(settings)

    assert str(caught.value) == (
        f"The accounts file {path} is malformed: it needs `cookie` and `credentials.usernames` mappings. "
        "Fix it or restore it from a backup."
    )


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("-ada", "Invalid username '-ada': use " + accounts.USERNAME_RULE + "."),
        ("a b", "Invalid username 'a b': use " + accounts.USERNAME_RULE + "."),
        ("x" * 21, f"Invalid username '{'x' * 21}': use " + accounts.USERNAME_RULE + "."),
        ("local", "The username 'local' is reserved for the command line: choose another one."),
    ],
)
def test_validator_rejects_username_with_reason(username, message):
    validator = accounts.account_validator(reserved={"local"})

    with pytest.raises(RegisterError) as caught:
        validator.validate_username(username)

    assert str(caught.value) == message


def test_validator_accepts_service_compatible_usernames():
    validator = accounts.account_validator()

    assert validator.validate_username("ada_99")
    assert validator.validate_username("grace-h")
