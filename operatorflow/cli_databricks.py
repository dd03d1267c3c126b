"""The `operatorflow databricks` commands: list the workspace folder's notebooks and the clusters."""

from __future__ import annotations

import argparse
import dataclasses
import json

from operatorflow.errors import BackendUnavailable
from operatorflow.service import OperatorFlow


def add_databricks_commands(commands, common: argparse.ArgumentParser) -> None:
    databricks = commands.add_parser("databricks", parents=[common],
                                     help="list the Databricks workspace's notebooks and clusters")
    actions = databricks.add_subparsers(dest="databricks_command", required=True, metavar="ACTION")
    notebooks = actions.add_parser("notebooks", parents=[common],
                                   help="list the notebooks of the workspace folder, with your run status")
    notebooks.add_argument("--json", action="store_true", help="print JSON only")
    clusters = actions.add_parser("clusters", parents=[common], help="list the clusters runs may use")
    clusters.add_argument("--json", action="store_true", help="print JSON only")


def run_databricks_command(args: argparse.Namespace, service: OperatorFlow, user: str) -> int:
    from operatorflow.databricks_catalog import build_databricks_catalog

    catalog = build_databricks_catalog(service)
    if catalog is None:
        raise BackendUnavailable(
            "Databricks is not configured: set OPERATORFLOW_DATABRICKS_HOST or DATABRICKS_HOST to the workspace URL."
        )

    if args.databricks_command == "notebooks":
        notebooks = catalog.list_databricks_notebooks(user)
        if args.json:
            print(json.dumps([
                {**dataclasses.asdict(n.notebook), "status": n.status, "in_catalog": n.in_catalog} for n in notebooks
            ], indent=2))
            return 0
        for n in notebooks:
            print(f"{n.notebook.path:<60} {n.status:<10} {'catalog' if n.in_catalog else 'workspace only'}")
        return 0

    clusters = catalog.list_databricks_clusters(user)
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in clusters], indent=2))
        return 0
    for c in clusters:
        print(f"{c.cluster_id:<24} {c.state:<12} {c.name}")
    return 0
