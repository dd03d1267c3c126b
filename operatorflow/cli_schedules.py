"""The `operatorflow schedules` commands: add, list, pause, resume and delete periodic schedules."""

from __future__ import annotations

import argparse
import json
from typing import Any

from operatorflow.schedules import DEFAULT_TIMEZONE, ScheduleView
from operatorflow.service import OperatorFlow

EXIT_OK = 0


def add_schedule_commands(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the `schedules` command and its actions to the `operatorflow` parser."""
    schedules = commands.add_parser("schedules", parents=[common], help="run a workflow periodically")
    actions = schedules.add_subparsers(dest="schedules_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", parents=[common], help="schedule a workflow and print the schedule's id")
    add.add_argument("workflow", metavar="NAME", help="workflow name, as `operatorflow workflows list` shows it")
    add.add_argument("--cron", required=True,
                     help="five-field cron expression (minute hour day-of-month month day-of-week), "
                          "for example \"0 3 * * *\" for 03:00 every day")
    add.add_argument("--timezone", default=DEFAULT_TIMEZONE,
                     help=f"IANA time zone of the cron times, for example Europe/Berlin (default {DEFAULT_TIMEZONE})")
    add.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="set a parameter; repeat for several")
    add.add_argument("--output", metavar="LOCATION",
                     help="output location of each run (a folder or s3://bucket/prefix; {run_id} is replaced)")
    add.add_argument("--engine", help="engine to run on (default: the workflow's own)")
    add.add_argument("--json", action="store_true", help="print JSON only")

    listing = actions.add_parser("list", parents=[common], help="list your schedules with their next run times")
    listing.add_argument("--json", action="store_true", help="print JSON only")
    for action, text in [("pause", "pause a schedule"), ("resume", "resume a paused schedule from its next slot"),
                         ("delete", "delete a schedule (its runs stay)")]:
        parser = actions.add_parser(action, parents=[common], help=text)
        parser.add_argument("schedule_id", metavar="SCHEDULE_ID")


def run_schedule_command(args: argparse.Namespace, service: OperatorFlow, user: str) -> int:
    """Carry out one `schedules` action; product errors propagate to `cli.main`, which prints them."""
    from operatorflow.cli import parse_params

    schedules = service.schedules
    if args.schedules_command == "add":
        schedule = schedules.create_schedule(
            user, args.workflow, args.cron, args.timezone, parse_params(args.param),
            engine=args.engine, output_location=args.output,
        )
        [view] = [v for v in schedules.list_schedules(user) if v.schedule.id == schedule.id]
        if args.json:
            _print_json(schedule_document(view))
        else:
            print(schedule.id)
        return EXIT_OK
    if args.schedules_command == "list":
        views = schedules.list_schedules(user)
        if args.json:
            _print_json([schedule_document(v) for v in views])
        else:
            _print_schedule_table(views)
        return EXIT_OK
    if args.schedules_command == "pause":
        schedule = schedules.pause_schedule(user, args.schedule_id)
        print(f"{schedule.id} paused")
        return EXIT_OK
    if args.schedules_command == "resume":
        schedule = schedules.resume_schedule(user, args.schedule_id)
        print(f"{schedule.id} resumed")
        return EXIT_OK
    schedules.delete_schedule(user, args.schedule_id)
    print(f"{args.schedule_id} deleted")
    return EXIT_OK


def schedule_document(view: ScheduleView) -> dict[str, Any]:
    """Build the JSON form of a schedule for `--json`: the record and its next run times in UTC."""
    document = view.schedule.to_dict()
    document["next_run_times"] = [t.isoformat() for t in view.next_run_times]
    return document


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str))


def _print_schedule_table(views: list[ScheduleView]) -> None:
    if not views:
        print('No schedules yet. Add one with `operatorflow schedules add NAME --cron "0 3 * * *"`.')
        return
    print(f"{'SCHEDULE ID':<13} {'WORKFLOW':<24} {'CRON':<16} {'TIME ZONE':<18} {'STATE':<7} NEXT RUN (UTC)")
    for view in views:
        schedule = view.schedule
        state = "paused" if schedule.paused else "active"
        upcoming = view.next_run_times[0].strftime("%Y-%m-%d %H:%M") if view.next_run_times else "-"
        print(f"{schedule.id:<13} {schedule.workflow:<24} {schedule.cron:<16} {schedule.timezone:<18} "
              f"{state:<7} {upcoming}")
        if schedule.missed_slots:
            print(f"{'':<13} {schedule.missed_slots} missed slot(s) skipped while no worker ran")
        if schedule.last_error:
            print(f"{'':<13} last error: {schedule.last_error}")
