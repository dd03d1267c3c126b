"""The `operatorflow credentials` commands: set, list and delete engine and service credentials."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from operatorflow.credentials import STANDARD_NAMES
from operatorflow.credentials.keys import generate_key
from operatorflow.errors import InvalidInput
from operatorflow.service import OperatorFlow

EXIT_OK = 0


def add_credentials_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the `credentials` command and its actions to the `operatorflow` parser."""
    credentials = commands.add_parser("credentials", parents=[common],
                                      help="store the tokens and passwords that engines and services use")
    actions = credentials.add_subparsers(dest="credentials_command", required=True, metavar="ACTION")
    names = ", ".join(STANDARD_NAMES)

    set_parser = actions.add_parser(
        "set", parents=[common],
        help="store or replace a credential; the value is read from standard input, never from the arguments",
    )
    set_parser.add_argument("name", metavar="NAME", help=f"credential name; OperatorFlow uses {names}")
    set_parser.add_argument("--shared", action="store_true", help="store it for every user (administrators only)")

    listing = actions.add_parser("list", parents=[common], help="list credentials with the last 4 characters only")
    listing.add_argument("--shared", action="store_true", help="list the shared ones (administrators only)")
    listing.add_argument("--json", action="store_true", help="print JSON only")

    delete = actions.add_parser("delete", parents=[common], help="delete a credential")
    delete.add_argument("name", metavar="NAME")
    delete.add_argument("--shared", action="store_true", help="delete a shared one (administrators only)")

    actions.add_parser("generate-key", parents=[common],
                       help="print a new key for OPERATORFLOW_CREDENTIALS_KEY (nothing is stored)")
    actions.add_parser("reencrypt", parents=[common],
                       help="encrypt values stored under OPERATORFLOW_CREDENTIALS_OLD_KEYS with the current key "
                            "(administrators only)")


def run_credentials_command(args: argparse.Namespace, service: OperatorFlow, user: str) -> int:
    """Carry out one `credentials` action; product errors propagate to `cli.main`, which prints them."""
    action = args.credentials_command
    if action == "generate-key":
        print(generate_key())
        return EXIT_OK

    credentials = service.credentials
    if action == "set":
        credentials.set_credential(user, args.name, read_value(args.name), shared=args.shared)
        print(f"Stored {args.name} ({'shared' if args.shared else user}).")
        return EXIT_OK
    if action == "list":
        infos = credentials.list_credentials(user, shared=args.shared)
        if args.json:
            print(json.dumps([{"name": i.name, "scope": i.scope, "preview": i.preview,
                               "updated_at": i.updated_at.isoformat(), "updated_by": i.updated_by} for i in infos],
                             indent=2))
        elif not infos:
            print("No credentials stored. Store one with `operatorflow credentials set NAME`.")
        else:
            print(f"{'NAME':<24} {'VALUE':<10} {'UPDATED (UTC)':<20} BY")
            for info in infos:
                print(f"{info.name:<24} {info.preview:<10} {info.updated_at:%Y-%m-%d %H:%M:%S}  {info.updated_by}")
        return EXIT_OK
    if action == "delete":
        credentials.delete_credential(user, args.name, shared=args.shared)
        print(f"Deleted {args.name} ({'shared' if args.shared else user}).")
        return EXIT_OK
    if action == "reencrypt":
        count = credentials.reencrypt_credentials(user)
        print(f"Re-encrypted {count} credential(s) with the current key.")
        return EXIT_OK
    raise InvalidInput(f"Unknown credentials action {action}; see `operatorflow credentials --help`.")


def read_value(name: str) -> str:
    """Read the value without echo from a terminal, else all of standard input without its final line break.

    Values never come from the arguments, because those show up in `ps` and in shell history.
    """
    if sys.stdin.isatty():
        return getpass.getpass(f"Value of {name} (not shown): ")
    value = sys.stdin.read()
    if value.endswith("\n"):
        value = value[:-1]
    if value.endswith("\r"):
        value = value[:-1]
    return value
