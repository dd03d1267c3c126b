"""The `operatorflow` command line: start and follow runs, list workflows, serve the app."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from typing import Any, Sequence

from operatorflow.cli_credentials import add_credentials_commands, run_credentials_command
from operatorflow.cli_databricks import add_databricks_commands, run_databricks_command
from operatorflow.cli_grants import add_grant_commands, run_grant_command
from operatorflow.cli_images import add_image_commands, run_image_command
from operatorflow.cli_kubeflow import (
    SERVER_WORKFLOW_PREFIX,
    add_kubeflow_commands,
    run_kubeflow_command,
    submit_server_pipeline,
)
from operatorflow.cli_schedules import add_schedule_commands, run_schedule_command
from operatorflow.cli_users import add_user_commands, run_user_command
from operatorflow.errors import BackendUnavailable, InvalidInput, OperatorFlowError, PermissionDenied
from operatorflow.registry import Run
from operatorflow.service import OperatorFlow, decode_result
from operatorflow.status import RunStatus

logger = logging.getLogger("operatorflow.cli")

EXIT_OK = 0
EXIT_RUN_NOT_SUCCEEDED = 1
EXIT_INVALID = 2
EXIT_UNAVAILABLE = 3
EXIT_NOT_PERMITTED = 4

EXIT_CODES_HELP = """exit codes:
  0  success
  1  a run followed with --wait did not succeed
  2  invalid input, or something not found
  3  a backend (database, engine, object store) is unavailable
  4  not permitted: the run, model or schedule is not yours or not shared with you, or it does not exist
"""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--user", default=argparse.SUPPRESS,
                        help="act as this user (default: the local command-line user, OPERATORFLOW_DEFAULT_USER)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log each step to standard error")

    parser = argparse.ArgumentParser(prog="operatorflow", parents=[common],
                                     description="Run Spark notebooks and ML pipelines through OperatorFlow.",
                                     epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", parents=[common], help="queue a run of a workflow and print its id")
    run.add_argument("workflow", metavar="NAME", help="workflow name, as `operatorflow workflows list` shows it")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="set a parameter; repeat for several")
    run.add_argument("--output", metavar="LOCATION",
                     help="output location (a folder or s3://bucket/prefix; {run_id} is replaced)")
    run.add_argument("--engine", help="engine to run on (default: the workflow's own; see `workflows list`)")
    run.add_argument("--wait", action="store_true", help="follow the run to its end; exit 0 only if it SUCCEEDED")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="with --wait, give up after this many seconds")
    run.add_argument("--json", action="store_true", help="print JSON only (with --wait, the finished run)")

    runs = commands.add_parser("runs", parents=[common], help="list, show or cancel runs")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    runs_list = runs_commands.add_parser("list", parents=[common], help="list your runs, newest first")
    runs_list.add_argument("--workflow", help="only runs of this workflow")
    runs_list.add_argument("--status", choices=[s.value for s in RunStatus], help="only runs with this status")
    runs_list.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    runs_list.add_argument("--json", action="store_true", help="print JSON only")
    runs_show = runs_commands.add_parser("show", parents=[common], help="show one run with its result")
    runs_show.add_argument("run_id", metavar="RUN_ID")
    runs_show.add_argument("--json", action="store_true", help="print JSON only")
    runs_cancel = runs_commands.add_parser("cancel", parents=[common], help="cancel a queued or running run")
    runs_cancel.add_argument("run_id", metavar="RUN_ID")
    runs_log = runs_commands.add_parser("log", parents=[common], help="print a run's log")
    runs_log.add_argument("run_id", metavar="RUN_ID")
    runs_outputs = runs_commands.add_parser("outputs", parents=[common], help="list the objects a run wrote")
    runs_outputs.add_argument("run_id", metavar="RUN_ID")
    runs_outputs.add_argument("--json", action="store_true", help="print JSON only")
    runs_rerun = runs_commands.add_parser("rerun", parents=[common],
                                          help="queue a new run of a run's workflow with its parameters, owned by you")
    runs_rerun.add_argument("run_id", metavar="RUN_ID")
    runs_rerun.add_argument("--json", action="store_true", help="print JSON only")

    models = commands.add_parser("models", parents=[common], help="list the trained models you may use")
    models_commands = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    models_list = models_commands.add_parser("list", parents=[common],
                                             help="list finished training runs with a model, yours and shared")
    models_list.add_argument("--json", action="store_true", help="print JSON only")

    workflows = commands.add_parser("workflows", parents=[common], help="list the workflows you can run")
    workflows_commands = workflows.add_subparsers(dest="workflows_command", required=True, metavar="ACTION")
    workflows_list = workflows_commands.add_parser("list", parents=[common], help="list notebooks and pipelines")
    workflows_list.add_argument("--json", action="store_true", help="print JSON only")

    add_schedule_commands(commands, common)
    add_databricks_commands(commands, common)
    add_credentials_commands(commands, common)
    add_kubeflow_commands(commands, common)
    add_image_commands(commands, common)
    add_grant_commands(commands, common)
    add_user_commands(commands, common)

    serve = commands.add_parser("serve", help="start the app over HTTPS with a worker inside it")
    serve.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    commands.add_parser("worker", help="run a worker on its own until interrupted")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        from operatorflow import serve

        return serve.main(argv[1:]) or 0
    if argv[:1] == ["worker"]:
        from operatorflow import worker

        return worker.main(argv[1:])

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        from operatorflow.factory import build_service

        service = build_service()
        user = getattr(args, "user", None) or service.settings.default_user
        return _dispatch(args, service, user)
    except BackendUnavailable as exc:
        logger.error("%s", exc)
        return _report_error(args, exc, EXIT_UNAVAILABLE)
    except PermissionDenied as exc:
        logger.warning("command not permitted: %s", exc)
        return _report_error(args, exc, EXIT_NOT_PERMITTED)
    except OperatorFlowError as exc:
        logger.info("command failed: %s", exc)
        return _report_error(args, exc, EXIT_INVALID)
    except BrokenPipeError:
        # The reader (say `head`) closed the pipe: stop quietly, and keep Python from
        # complaining again when it flushes standard output at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _report_error(args: argparse.Namespace, exc: OperatorFlowError, code: int) -> int:
    """Print the error on standard error and, under --json, as the one JSON document on standard output."""
    print(f"error: {exc}", file=sys.stderr)
    if getattr(args, "json", False):
        _print_json({"error": {"type": type(exc).__name__, "message": str(exc)}})
    return code


def _dispatch(args: argparse.Namespace, service: OperatorFlow, user: str) -> int:
    if args.command == "run":
        return _run(args, service, user)
    if args.command == "workflows":
        return _workflows_list(args, service)
    if args.command == "schedules":
        return run_schedule_command(args, service, user)
    if args.command == "databricks":
        return run_databricks_command(args, service, user)
    if args.command == "credentials":
        return run_credentials_command(args, service, user)
    if args.command == "kubeflow":
        return run_kubeflow_command(args, service, user)
    if args.command == "images":
        return run_image_command(args, service, user)
    if args.command == "grants":
        return run_grant_command(args, service, user)
    if args.command == "models":
        models = service.list_models(user)
        if args.json:
            _print_json([run_document(r) for r in models])
        else:
            _print_run_table(models)
        return EXIT_OK
    if args.command == "users":
        return run_user_command(args, service, user)
    if args.runs_command == "list":
        statuses = [RunStatus(args.status)] if args.status else None
        runs = service.list_runs(user, workflow=args.workflow, statuses=statuses, limit=args.limit)
        if args.json:
            _print_json([run_document(r) for r in runs])
        else:
            _print_run_table(runs)
        return EXIT_OK
    if args.runs_command == "show":
        run = service.get_run(user, args.run_id)
        if args.json:
            _print_json(run_document(run))
        else:
            _print_run(run)
        return EXIT_OK
    if args.runs_command == "cancel":
        run = service.cancel_run(user, args.run_id)
        print(f"{run.id} {run.status.value}")
        return EXIT_OK
    if args.runs_command == "log":
        print(service.read_run_log(user, args.run_id), end="")
        return EXIT_OK
    if args.runs_command == "outputs":
        objects = service.list_output_objects(user, args.run_id)
        if args.json:
            _print_json(objects)
        else:
            print("\n".join(objects) if objects else "The run wrote no objects.")
        return EXIT_OK
    if args.runs_command == "rerun":
        run = service.rerun_run(user, args.run_id)
        if args.json:
            _print_json(run_document(run))
        else:
            print(run.id)
        return EXIT_OK
    raise InvalidInput(f"Unknown command {args.command}; see `operatorflow --help`.")


def _run(args: argparse.Namespace, service: OperatorFlow, user: str) -> int:
    parameters = parse_params(args.param)
    if args.workflow.startswith(SERVER_WORKFLOW_PREFIX):
        run = submit_server_pipeline(service, user, args.workflow, parameters, args.output)
    else:
        run = service.submit_run(user, args.workflow, parameters, args.output, engine=args.engine)
    if not args.wait:
        if not _worker_is_live(service):
            print(f"warning: no worker is running, so run {run.id} stays QUEUED until the app or "
                  "`python -m operatorflow.worker` starts.", file=sys.stderr)
        if args.json:
            _print_json(run_document(run))
        else:
            print(run.id)
        return EXIT_OK

    if not args.json:
        print(run.id, flush=True)
    finished = _wait(service, user, run, args.timeout)
    if args.json:
        _print_json(run_document(finished))
    else:
        print(f"{finished.id} {finished.status.value}")
        if finished.error_message:
            print(finished.error_message, file=sys.stderr)
    return EXIT_OK if finished.status is RunStatus.SUCCEEDED else EXIT_RUN_NOT_SUCCEEDED


def _wait(service: OperatorFlow, user: str, run: Run, timeout: float | None) -> Run:
    """Wait for the run; with no live worker anywhere, run one in this process meanwhile."""
    stop = threading.Event()
    thread = None
    if not _worker_is_live(service):
        from operatorflow.factory import build_engines
        from operatorflow.worker import Worker

        print("No worker is running: this command runs one until the run ends.", file=sys.stderr)
        worker = Worker(service, build_engines(service.settings))
        thread = threading.Thread(target=worker.run_forever, args=(stop,), name="cli-worker", daemon=True)
        thread.start()
    try:
        return service.wait_for_run(user, run.id, timeout_seconds=timeout, poll_seconds=0.5)
    except KeyboardInterrupt:
        print(f"Stopped waiting; run {run.id} goes on. Cancel it with `operatorflow runs cancel {run.id}`.",
              file=sys.stderr)
        raise SystemExit(130)
    finally:
        if thread is not None:
            worker.stop(stop)
            thread.join(timeout=30)


def _worker_is_live(service: OperatorFlow) -> bool:
    now = service.clock.now()
    lease = service.settings.lease_seconds
    return any((now - w["heartbeat_at"]).total_seconds() <= lease for w in service.registry.list_workers())


def _workflows_list(args: argparse.Namespace, service: OperatorFlow) -> int:
    workflows = service.list_workflows()
    if args.json:
        _print_json([
            {
                "name": w.name,
                "kind": w.kind.value,
                "engine": w.engine,
                "description": w.description,
                "parameters": [{"name": p.name, "default": p.default} for p in w.parameters],
            }
            for w in workflows
        ])
        return EXIT_OK
    for w in workflows:
        params = ", ".join(f"{p.name}={p.default}" for p in w.parameters)
        print(f"{w.name:<28} {w.kind.value:<9} {w.engine:<15} {params}")
    return EXIT_OK


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"Invalid --param {pair!r}: write it as KEY=VALUE, for example --param top_n=10.")
        params[key.strip()] = value
    return params


def run_document(run: Run) -> dict[str, Any]:
    """Build the JSON form of a run for `--json`: the record with its result decoded."""
    document = run.to_dict()
    document["result"] = decode_result(run.result)
    document.pop("worker_id", None)
    document.pop("lease_expires_at", None)
    return document


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str))


def _print_run_table(runs: list[Run]) -> None:
    if not runs:
        print("No runs yet. Start one with `operatorflow run NAME`.")
        return
    print(f"{'RUN ID':<13} {'WORKFLOW':<24} {'STATUS':<11} {'CREATED (UTC)':<20} {'DURATION':<10} OWNER")
    for run in runs:
        duration = f"{run.duration_seconds:.1f} s" if run.duration_seconds is not None else "-"
        print(f"{run.id:<13} {run.workflow:<24} {run.status.value:<11} "
              f"{run.created_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {duration:<10} {run.owner}")


def _print_run(run: Run) -> None:
    rows = [
        ("Run", run.id),
        ("Workflow", f"{run.workflow} ({run.kind} on {run.engine})"),
        ("Status", run.status.value),
        ("Owner", run.owner),
        ("Created", run.created_at.isoformat()),
        ("Started", run.started_at.isoformat() if run.started_at else "-"),
        ("Finished", run.finished_at.isoformat() if run.finished_at else "-"),
        ("Duration", f"{run.duration_seconds:.1f} s" if run.duration_seconds is not None else "-"),
        ("Output", run.output_location),
        ("Log", run.log_location or "-"),
    ]
    for label, value in rows:
        print(f"{label + ':':<10} {value}")
    print("Parameters:")
    for key, value in run.parameters.items():
        print(f"  {key} = {value}")
    if run.error_message:
        print(f"Error:    {run.error_message}")
    if run.metrics:
        print("Metrics:")
        for key, value in run.metrics.items():
            print(f"  {key} = {value}")
    result = decode_result(run.result)
    if result is not None:
        print("Result:")
        print(json.dumps(result, indent=2) if not isinstance(result, str) else result)


if __name__ == "__main__":
    raise SystemExit(main())
