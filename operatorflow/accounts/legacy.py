"""Import of the accounts file that earlier versions kept (`home/accounts.yaml`, streamlit-authenticator's layout)."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from operatorflow.accounts.users import SOURCE_LOCAL, UserStore, check_email, normalize_username
from operatorflow.errors import InvalidInput
from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

ACCOUNTS_FILE = "accounts.yaml"
IMPORTED_SUFFIX = ".imported"


def import_accounts_file(settings: Settings, users: UserStore) -> int:
    """Copy the users of `home/accounts.yaml` into the database, then rename the file; return how many were added.

    Each user keeps their bcrypt hash and counts as confirmed. Users whose name already exists are
    skipped, so a second app process that races this one never adds a user twice. The command-line user
    is not copied, because it is created by `ensure_command_line_user`.
    """
    path = settings.home / ACCOUNTS_FILE
    if not path.is_file():
        return 0
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries = config["credentials"]["usernames"] or {}
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise InvalidInput(
            f"The accounts file {path} cannot be imported: {exc}. Fix it, or move it away to start without its users."
        ) from exc

    added = 0
    for raw_name, entry in entries.items():
        name = normalize_username(str(raw_name))
        entry = entry or {}
        if "command-line" in (entry.get("roles") or []) or users.find(name) is not None:
            continue
        added += _import_one(users, name, entry, path)

    imported = path.with_name(path.name + IMPORTED_SUFFIX)
    try:
        path.rename(imported)
    except FileNotFoundError:
        # Another process imported and renamed it first.
        pass
    logger.info("accounts imported %d user(s) from %s and renamed it to %s", added, path, imported.name)
    return added


def _import_one(users: UserStore, name: str, entry: dict, path: Path) -> int:
    password_hash = str(entry.get("password") or "")
    if not password_hash.startswith("$2"):
        logger.warning("accounts skipped user %s of %s: it has no bcrypt hash", name, path)
        return 0
    try:
        email = check_email(str(entry["email"])) if entry.get("email") else None
    except InvalidInput:
        logger.warning("accounts imported user %s of %s without its invalid email address %r",
                       name, path, entry.get("email"))
        email = None
    display = " ".join(str(entry.get(key) or "") for key in ("first_name", "last_name")).strip() or None
    try:
        users.create(name, email=email, source=SOURCE_LOCAL, password_hash=password_hash,
                     is_admin="admin" in (entry.get("roles") or []), confirmed=True, display_name=display)
    except InvalidInput as exc:
        logger.warning("accounts skipped user %s of %s: %s", name, path, exc)
        return 0
    return 1
