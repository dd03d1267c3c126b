"""Read the messages that the outbox mailer wrote, and the tokens of the links in them."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path


def outbox_messages(home: Path) -> list[EmailMessage]:
    """Return the messages in the outbox folder of the data folder `home`, oldest first."""
    folder = home / "outbox"
    paths = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() else []
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in paths]


def link_token(message: EmailMessage, parameter: str) -> str:
    """Return the token of the link with `?parameter=` in a message's body."""
    body = message.get_content()
    marker = f"/?{parameter}="
    [line] = [line for line in body.splitlines() if marker in line]
    return line.split(marker, 1)[1].strip()
