"""The `operatorflow users` commands: add, list, disable and enable accounts (administrators only)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from operatorflow.accounts import AccountService, User, build_accounts
from operatorflow.errors import InvalidInput, PermissionDenied
from operatorflow.service import OperatorFlow

EXIT_OK = 0


def add_user_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the `users` command and its actions to the `operatorflow` parser."""
    users = commands.add_parser("users", parents=[common], help="manage accounts (administrators only)")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", parents=[common],
                             help="add a confirmed account; without --password-stdin, email a link to set the password")
    add.add_argument("name", metavar="NAME", help="username: 3 to 20 letters, digits, '_' or '-'")
    add.add_argument("--email", required=True, help="email address of the account")
    add.add_argument("--admin", action="store_true", help="make the account an administrator")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.add_argument("--json", action="store_true", help="print JSON only")

    listing = actions.add_parser("list", parents=[common], help="list every account")
    listing.add_argument("--json", action="store_true", help="print JSON only")
    for action, text in [("disable", "disable an account and end its sessions"), ("enable", "enable an account")]:
        parser = actions.add_parser(action, parents=[common], help=text)
        parser.add_argument("name", metavar="NAME")


def run_user_command(args: argparse.Namespace, service: OperatorFlow, user: str) -> int:
    """Carry out one `users` action as `user`; product errors propagate to `cli.main`, which prints them."""
    account_service = build_accounts(service.settings, service.registry, service.clock)
    _check_administrator(account_service, user, args.users_command)

    if args.users_command == "add":
        password = _read_password() if args.password_stdin else None
        added, link = account_service.add_user(args.name, args.email, is_admin=args.admin, password=password)
        if args.json:
            _print_json(added.to_dict() | {"password_link": link})
        elif link is None:
            print(f"{added.name} added")
        else:
            print(f"{added.name} added. It has no password yet: the link below, also emailed to {added.email}, "
                  "sets one and works once:")
            print(link)
        return EXIT_OK
    if args.users_command == "list":
        listed = account_service.users.list_users()
        if args.json:
            _print_json([u.to_dict() for u in listed])
        else:
            _print_user_table(listed)
        return EXIT_OK
    changed = account_service.set_disabled(args.name, args.users_command == "disable")
    print(f"{changed.name} {'disabled' if changed.disabled else 'enabled'}")
    return EXIT_OK


def _check_administrator(account_service: AccountService, user: str, action: str) -> None:
    account_service.check_administrator(user, f"run `users {action}`")


def _read_password() -> str:
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise InvalidInput("No password on standard input: pipe it in, for example "
                           "`printf '%s\\n' \"$PASSWORD\" | operatorflow users add ...`.")
    return password


def _print_json(document: object) -> None:
    print(json.dumps(document, indent=2, default=str))


def _print_user_table(listed: list[User]) -> None:
    print(f"{'NAME':<20} {'EMAIL':<32} {'SOURCE':<13} {'ADMIN':<6} {'STATE':<12} LOCKED UNTIL (UTC)")
    now = dt.datetime.now(dt.timezone.utc)
    for user in listed:
        if user.disabled:
            state = "disabled"
        elif user.confirmed:
            state = "confirmed"
        else:
            state = "unconfirmed"
        locked = "-"
        if user.locked_until is not None and user.locked_until > now:
            locked = user.locked_until.strftime("%Y-%m-%d %H:%M")
        print(f"{user.name:<20} {user.email or '-':<32} {user.source:<13} {'yes' if user.is_admin else 'no':<6} "
              f"{state:<12} {locked}")
