"""Local accounts: bcrypt-hashed users in `accounts.yaml` under the data folder, signed in through streamlit-authenticator."""

from __future__ import annotations

import functools
import logging
import os
import re
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from operatorflow.errors import InvalidInput
from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

ACCOUNTS_FILE = "accounts.yaml"
COOKIE_NAME = "operatorflow_auth"
COOKIE_EXPIRY_DAYS = 7
_MIN_COOKIE_KEY_LENGTH = 32
USERNAME_RULE = "3 to 20 letters, digits, '_' or '-', starting with a letter or digit (stored in lowercase)"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_-]{2,19}$")

# Serializes read-modify-write of the accounts file between the sessions of one app process.
_file_lock = threading.Lock()


def accounts_path(settings: Settings) -> Path:
    return settings.home / ACCOUNTS_FILE


def load_accounts(settings: Settings) -> dict[str, Any]:
    """Return the accounts configuration, creating the file with a random cookie key on first use.

    The result has `credentials: {usernames: {...}}` and `cookie: {name, key, expiry_days}`, the
    layout that streamlit-authenticator 0.4.2 reads.
    """
    path = accounts_path(settings)
    with _file_lock:
        if not path.exists():
            _create_accounts_file(path)
        config = _read_accounts_file(path)
        if len(str(config["cookie"].get("key") or "")) < _MIN_COOKIE_KEY_LENGTH:
            # A short or missing key would let anyone forge the sign-in cookie. A new key costs
            # only a sign-in in every browser.
            logger.warning("accounts file %s has a missing or short cookie key, so a new one replaces it", path)
            config["cookie"]["key"] = secrets.token_urlsafe(_MIN_COOKIE_KEY_LENGTH)
            _write_accounts_file(path, config)
    return config


def add_account(settings: Settings, username: str, entry: dict[str, Any]) -> None:
    """Store one new account; `entry` contains the bcrypt hash under `password`, never the password."""
    if not str(entry.get("password", "")).startswith("$2"):
        raise ValueError(f"account {username!r} must be stored with a bcrypt hash, not a plain password")

    path = accounts_path(settings)
    with _file_lock:
        config = _read_accounts_file(path)
        users = config["credentials"]["usernames"]
        if username in users:
            raise InvalidInput(f"The username {username!r} is already taken: choose another one.")
        users[username] = entry
        _write_accounts_file(path, config)
    logger.info("accounts created account %s", username)


def record_sign_out(settings: Settings, username: str, signed_out_at: float) -> None:
    """Store when a user signed out (Unix time), so sign-in cookies issued before then stop working.

    The browser is also asked to delete its cookie, but that request can be lost when the page
    reruns, so the server side must not depend on it.
    """
    path = accounts_path(settings)
    with _file_lock:
        config = _read_accounts_file(path)
        entry = config["credentials"]["usernames"].get(username)
        if entry is None:
            return
        entry["signed_out_at"] = signed_out_at
        _write_accounts_file(path, config)


def is_cookie_signed_out(config: dict[str, Any], cookie: str) -> bool:
    """Return True when a sign-in cookie was issued before its user's last sign-out.

    streamlit-authenticator 0.4.2 stores only `username` and `exp_date` (issue time plus
    `cookie.expiry_days`) in the cookie, so the issue time is derived from those. A cookie that
    does not decode returns False here, and the library then rejects it itself.
    """
    import jwt

    try:
        token = jwt.decode(cookie, config["cookie"]["key"], algorithms=["HS256"])
        issued_at = float(token["exp_date"]) - float(config["cookie"]["expiry_days"]) * 86400
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
        return False
    entry = config["credentials"]["usernames"].get(str(token.get("username")), {})
    return issued_at <= float(entry.get("signed_out_at") or 0)


def ensure_command_line_user(settings: Settings) -> bool:
    """Create the command line's account (`settings.default_user`) if missing; return True when created.

    Its password is random and discarded at once, so this user cannot sign in through the browser.
    """
    config = load_accounts(settings)
    if settings.default_user.lower() in config["credentials"]["usernames"]:
        return False

    unusable = secrets.token_urlsafe(32)
    entry = {
        "email": None,
        "first_name": "Command",
        "last_name": "line",
        "password": bcrypt.hashpw(unusable.encode(), bcrypt.gensalt()).decode(),
        "roles": ["command-line"],
        "logged_in": False,
    }
    add_account(settings, settings.default_user.lower(), entry)
    return True


def build_authenticator(settings: Settings, config: dict[str, Any], login_sleep_time: float = 0.0):
    """Return a streamlit-authenticator 0.4.2 `Authenticate` over `config` (mutated in place by it).

    It must be built once per script run, because its cookie manager draws a browser component.
    `login_sleep_time` is the pause before the sign-in form: version 0.4.2 reads the cookie from
    the request headers (`st.context.cookies`), so waiting for the browser gains nothing.
    No `api_key` is passed: with one, the library would send mail through an outside service.
    """
    import streamlit_authenticator as stauth

    return stauth.Authenticate(
        config["credentials"],
        config["cookie"]["name"],
        config["cookie"]["key"],
        config["cookie"]["expiry_days"],
        validator=account_validator(reserved={settings.default_user.lower()}),
        auto_hash=False,
        login_sleep_time=login_sleep_time,
    )


def register_account(settings: Settings, authenticator, config: dict[str, Any], key: str) -> str | None:
    """Draw the registration form; on a valid submission store the account and return its username.

    Raises InvalidInput with the reason when the submission is invalid or the username is taken.
    """
    from streamlit_authenticator.utilities import RegisterError

    fields = {"Form name": "Create account", "Register": "Create account"}
    try:
        _email, username, _name = authenticator.register_user(
            location="main",
            fields=fields,
            # NOTE: without the library's captcha, anyone who reaches the app can create accounts.
            captcha=False,
            # The library shows the hint to anyone who types the username, so none is stored.
            password_hint=False,
            key=key,
        )
    except RegisterError as exc:
        # The library's password message is Markdown with one requirement per paragraph.
        raise InvalidInput(f"The account was not created. {str(exc).strip()}") from exc

    if not username:
        return None
    # register_user added the user to config["credentials"], the dict the authenticator was given.
    add_account(settings, username, config["credentials"]["usernames"][username])
    return username


def account_validator(reserved: set[str] | None = None):
    """Return streamlit-authenticator's Validator with OperatorFlow's username rule and clearer messages."""
    return _account_validator_class()(reserved)


@functools.cache
def _account_validator_class():
    # Imported here, not at the top: importing streamlit_authenticator starts Streamlit machinery
    # that warns outside a running app, and the launcher uses this module before Streamlit starts.
    from streamlit_authenticator.utilities import RegisterError, Validator

    class AccountValidator(Validator):
        """The library's checks, with usernames that OperatorFlow accepts and messages that name the rule."""

        def __init__(self, reserved: set[str] | None = None) -> None:
            super().__init__()
            self._reserved = reserved or set()

        def validate_username(self, username: str) -> bool:
            # The library lowercases the username before this check, both here and at sign-in. The
            # rule keeps names within what the service accepts as a run owner.
            if username in self._reserved:
                raise RegisterError(f"The username {username!r} is reserved for the command line: choose another one.")
            if not _USERNAME.match(username):
                raise RegisterError(f"Invalid username {username!r}: use {USERNAME_RULE}.")
            return True

        def validate_name(self, name: str) -> bool:
            if not super().validate_name(name):
                raise RegisterError(f"Invalid name {name!r}: use 2 to 100 letters, spaces, apostrophes, dots or hyphens.")
            return True

        def validate_email(self, email: str) -> bool:
            if not super().validate_email(email):
                raise RegisterError(f"Invalid email address {email!r}: use the form name@example.com.")
            return True

    return AccountValidator


def _create_accounts_file(path: Path) -> None:
    config = {
        "cookie": {
            "name": COOKIE_NAME,
            "key": secrets.token_urlsafe(_MIN_COOKIE_KEY_LENGTH),
            "expiry_days": COOKIE_EXPIRY_DAYS,
        },
        "credentials": {"usernames": {}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temporary(path, config)
    try:
        # link() fails when another process created the file first, and then that file and key win.
        os.link(tmp, path)
        logger.info("accounts created %s with a new cookie key", path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _read_accounts_file(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"The accounts file {path} cannot be read: {exc}. Fix it or restore it from a backup.") from exc

    valid = (
        isinstance(config, dict)
        and isinstance(config.get("cookie"), dict)
        and isinstance(config.get("credentials"), dict)
        and isinstance(config["credentials"].get("usernames") or {}, dict)
    )
    if not valid:
        raise InvalidInput(
            f"The accounts file {path} is malformed: it needs `cookie` and `credentials.usernames` mappings. "
            "Fix it or restore it from a backup."
        )
    config["credentials"]["usernames"] = config["credentials"].get("usernames") or {}
    config["cookie"].setdefault("name", COOKIE_NAME)
    config["cookie"].setdefault("expiry_days", COOKIE_EXPIRY_DAYS)
    return config


def _write_accounts_file(path: Path, config: dict[str, Any]) -> None:
    tmp = _write_temporary(path, config)
    os.replace(tmp, path)


def _write_temporary(path: Path, config: dict[str, Any]) -> Path:
    """Write `config` to a new file next to `path`, readable by the owner only (mkstemp uses 0600)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle, default_flow_style=False, allow_unicode=True, sort_keys=True)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)
