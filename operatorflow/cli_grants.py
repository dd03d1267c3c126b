"""The `operatorflow grants` commands: share a run or a workflow's runs with another user, list and revoke grants."""

from __future__ import annotations

import argparse
import json
from typing import Any

from operatorflow.access import Grant
from operatorflow.service import OperatorFlow

EXIT_OK = 0

_OBJECT_HELP = "'run' shares one run; 'workflow' shares all your runs of that workflow, also later ones"


def add_grant_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the `grants` command and its actions to the `operatorflow` parser."""
    grants = commands.add_parser("grants", parents=[common], help="share runs with other users")
    actions = grants.add_subparsers(dest="grants_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", parents=[common], help="share a run or your runs of a workflow with a user")
    _add_object_arguments(add)
    add.add_argument("--permission", choices=["view", "run"], default="view",
                     help="view: see the runs, logs and outputs; run: also re-run them (default view)")
    add.add_argument("--json", action="store_true", help="print JSON only")

    revoke = actions.add_parser("revoke", parents=[common], help="stop sharing; takes effect at once")
    _add_object_arguments(revoke)
    revoke.add_argument("--json", action="store_true", help="print JSON only")

    listing = actions.add_parser("list", parents=[common],
                                 help="list the grants you made and received (all grants for an administrator)")
    listing.add_argument("object_type", nargs="?", choices=["run", "workflow"], metavar="run|workflow",
                         help="only grants on this type of object")
    listing.add_argument("object_id", nargs="?", metavar="ID", help="only the grants of this run id or workflow name")
    listing.add_argument("--json", action="store_true", help="print JSON only")


def _add_object_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("object_type", choices=["run", "workflow"], metavar="run|workflow", help=_OBJECT_HELP)
    parser.add_argument("object_id", metavar="ID", help="run id, or workflow name as `operatorflow workflows list` shows it")
    parser.add_argument("--to", dest="grantee", required=True, metavar="USER", help="user who gets or loses access")
    parser.add_argument("--owner", metavar="USER",
                        help="for a workflow, whose runs are shared (default: you; another owner needs an administrator)")


def run_grant_command(args: argparse.Namespace, service: OperatorFlow, user: str) -> int:
    """Carry out one `grants` action; product errors propagate to `cli.main`, which prints them."""
    if args.grants_command == "add":
        grant = service.grant_access(user, args.object_type, args.object_id, args.grantee, args.permission,
                                     owner=args.owner)
        if args.json:
            _print_json(grant.to_dict())
        else:
            print(f"{grant.grantee} may now {grant.permission} {_object_text(grant)}")
        return EXIT_OK
    if args.grants_command == "revoke":
        service.revoke_access(user, args.object_type, args.object_id, args.grantee, owner=args.owner)
        if args.json:
            _print_json({"revoked": {"object_type": args.object_type, "object_id": args.object_id,
                                     "grantee": args.grantee}})
        else:
            print(f"{args.grantee} no longer has access to {args.object_type} {args.object_id}")
        return EXIT_OK

    found = service.list_grants(user, args.object_type, args.object_id)
    if args.json:
        _print_json([g.to_dict() for g in found])
    else:
        _print_grant_table(found)
    return EXIT_OK


def _object_text(grant: Grant) -> str:
    if grant.object_type == "workflow":
        return f"the runs of workflow {grant.object_id} owned by {grant.owner}"
    return f"run {grant.object_id} of {grant.owner}"


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str))


def _print_grant_table(found: list[Grant]) -> None:
    if not found:
        print("No grants. Share a run with `operatorflow grants add run RUN_ID --to USER`.")
        return
    print(f"{'TYPE':<9} {'ID':<28} {'OWNER':<16} {'GRANTEE':<16} {'PERMISSION':<10} GRANTED BY")
    for grant in found:
        print(f"{grant.object_type:<9} {grant.object_id:<28} {grant.owner:<16} {grant.grantee:<16} "
              f"{grant.permission:<10} {grant.granted_by}")
