"""The `operatorflow kubeflow` commands: list the Kubeflow server's pipelines, runs and experiments."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from operatorflow.errors import BackendUnavailable
from operatorflow.registry import Run
from operatorflow.service import OperatorFlow

SERVER_WORKFLOW_PREFIX = "kubeflow:"
"""Prefix of a pipeline stored on the server in `operatorflow run`; the same as the engine's, without importing it."""


def add_kubeflow_commands(commands, common: argparse.ArgumentParser) -> None:
    kubeflow = commands.add_parser("kubeflow", parents=[common],
                                   help="list the Kubeflow Pipelines server's pipelines, runs and experiments")
    actions = kubeflow.add_subparsers(dest="kubeflow_command", required=True, metavar="ACTION")
    pipelines = actions.add_parser("pipelines", parents=[common],
                                   help="list the pipelines stored on the server (run one with "
                                        "`operatorflow run kubeflow:NAME`)")
    pipelines.add_argument("--json", action="store_true", help="print JSON only")
    for action, noun in (("runs", "runs of your namespace, newest first"), ("experiments", "experiments")):
        parser = actions.add_parser(action, parents=[common], help=f"list one page of the {noun}")
        parser.add_argument("--page-size", type=int, default=20, help="items per page (default 20)")
        parser.add_argument("--page-token", default="", help="token printed after the previous page")
        parser.add_argument("--json", action="store_true", help="print JSON only")
        if action == "runs":
            parser.add_argument("--experiment", metavar="EXPERIMENT_ID", help="only runs of this experiment")


def submit_server_pipeline(service: OperatorFlow, user: str, workflow_name: str, parameters: dict[str, str],
                           output_location: str | None) -> Run:
    """Queue a run of the latest version of a pipeline stored on the server (`kubeflow:NAME`)."""
    return _catalog(service).submit_server_pipeline_run(user, workflow_name, parameters, output_location)


def _catalog(service: OperatorFlow):
    from operatorflow.kubeflow_catalog import build_kubeflow_catalog

    catalog = build_kubeflow_catalog(service)
    if catalog is None:
        raise BackendUnavailable(
            "Kubeflow is not configured: set OPERATORFLOW_KUBEFLOW_HOST to the Kubeflow Pipelines endpoint."
        )
    return catalog


def run_kubeflow_command(args: argparse.Namespace, service: OperatorFlow, user: str) -> int:
    catalog = _catalog(service)
    if args.kubeflow_command == "pipelines":
        pipelines = catalog.list_server_pipelines(user)
        if args.json:
            _print_json([dataclasses.asdict(p) for p in pipelines])
            return 0
        if not pipelines:
            print("No pipelines are stored on the Kubeflow server.")
        for p in pipelines:
            print(f"{p.name:<40} {p.pipeline_id:<38} {p.description}")
        return 0

    if args.kubeflow_command == "runs":
        page = catalog.list_server_runs(user, args.page_token, args.page_size, args.experiment)
        rows = [f"{r.run_id:<38} {r.state:<10} {r.name:<16} {_time(r.created_at)}  {r.error}".rstrip()
                for r in page.items]
    else:
        page = catalog.list_server_experiments(user, args.page_token, args.page_size)
        rows = [f"{e.experiment_id:<38} {e.name:<32} {e.namespace}".rstrip() for e in page.items]
    if args.json:
        _print_json({args.kubeflow_command: [dataclasses.asdict(item) for item in page.items],
                     "next_page_token": page.next_page_token})
        return 0
    if not rows:
        print(f"No {args.kubeflow_command} on the Kubeflow server.")
    for row in rows:
        print(row)
    if page.next_page_token:
        print(f"More: add --page-token {page.next_page_token}")
    return 0


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str))
