"""Databricks settings that pages read on every rerun, resolved without importing databricks-sdk (2.2 s to import, version 0.167)."""

from __future__ import annotations

import configparser
import logging
import os
from pathlib import Path

from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

TOKEN_FIX = (
    "Set OPERATORFLOW_DATABRICKS_TOKEN or DATABRICKS_TOKEN to a personal access token of the workspace "
    "(or store it with `operatorflow credentials set databricks-token --shared`, "
    "or add `token` to the profile in ~/.databrickscfg)."
)


def resolve_databricks_host(settings: Settings, environ: dict[str, str] | None = None) -> str:
    """Return the workspace host in the SDK's order (settings, DATABRICKS_HOST, profile file), or "" when none is set.

    This reads files and variables only, so pages can call it on every rerun without a request.
    """
    environ = os.environ if environ is None else environ
    if settings.databricks_host:
        return settings.databricks_host
    if environ.get("DATABRICKS_HOST"):
        return environ["DATABRICKS_HOST"]

    config_file = Path(environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()
    if not config_file.is_file():
        return ""
    profile = settings.databricks_profile or environ.get("DATABRICKS_CONFIG_PROFILE") or "DEFAULT"
    parser = configparser.ConfigParser()
    try:
        parser.read(config_file)
    except configparser.Error as exc:
        logger.warning("Cannot read Databricks profile file %s, so Databricks stays off: %s", config_file, exc)
        return ""
    if profile == "DEFAULT":
        return parser.defaults().get("host", "")
    if not parser.has_section(profile):
        return ""
    return parser.get(profile, "host", fallback="")


def databricks_enabled(settings: Settings) -> bool:
    return bool(resolve_databricks_host(settings))


def resolve_stored_databricks_token(settings: Settings) -> str:
    """Return the shared `databricks-token` of the credentials store, or "" when none is stored.

    The token resolves in this order: OPERATORFLOW_DATABRICKS_TOKEN, then this stored token, then
    DATABRICKS_TOKEN, then the profile file. The host keeps the order of `resolve_databricks_host`.
    NOTE: the engine is shared by every user of the installation, so it uses the shared credential
    only. A user's own `databricks-token` is stored but not used by runs yet.
    """
    from operatorflow.credentials import DATABRICKS_TOKEN, resolve_credential

    return resolve_credential(None, DATABRICKS_TOKEN, settings) or ""
