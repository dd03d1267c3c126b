"""Settings, resolved in a fixed order: keyword arguments, then `OPERATORFLOW_*` variables, then defaults.

Every default is embedded, so a fresh clone runs with no configuration: local accounts, a SQLite
registry and a local object store under `var/` in the project folder, local engines.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from operatorflow.errors import InvalidInput

PROJECT_DIR = Path(__file__).resolve().parent.parent
ENV_PREFIX = "OPERATORFLOW_"


@dataclasses.dataclass(frozen=True)
class Settings:
    home: Path = PROJECT_DIR / "var"
    """Data folder: registry database, run folders, local object store, TLS certificate, accounts."""

    database_url: str = ""
    """SQLAlchemy URL of the run registry; empty means SQLite at `home/operatorflow.db`."""

    catalog_dir: Path = PROJECT_DIR / "catalog"
    """Folder with `notebooks/` and `pipelines/` that make up the workflow catalog."""

    project_dir: Path = PROJECT_DIR
    """Working folder of local runs, so relative input locations such as `examples/data/...` resolve."""

    output_root: str = ""
    """Object-store location under which runs write their outputs; empty means `home/objects/runs`."""

    worker: str = "thread"
    """`thread` runs the worker inside the app's process; `none` expects `python -m operatorflow.worker`."""

    max_running: int = 2
    """Maximum runs one worker keeps running at once; local Spark and kfp runs use a core each."""

    poll_seconds: float = 0.5
    """Seconds between two passes of the worker over queued and running runs."""

    lease_seconds: float = 30.0
    """Seconds a worker's claim on a run lasts without renewal before another worker adopts it."""

    default_user: str = "local"
    """User the command line acts as when `--user` is not given."""

    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"
    spark_cluster_master: str = ""
    """Self-hosted Spark cluster of this installation, offered as the `spark-cluster` engine: `spark://host:port`
    (standalone master) or `sc://host:port` (Spark Connect server). Empty disables that engine."""

    s3_endpoint_url: str = ""
    """Endpoint for S3 locations; empty means the AWS default chain. Tests point it at moto."""

    port: int = 8501
    tls_cert_file: str = ""
    """PEM certificate for HTTPS; empty means a self-signed one generated under `home/tls`."""
    tls_key_file: str = ""

    databricks_host: str = ""
    """Databricks workspace URL; empty means DATABRICKS_HOST or the profile file. The engine is enabled once a host resolves."""
    databricks_token: str = dataclasses.field(default="", repr=False)
    """Personal access token; empty means DATABRICKS_TOKEN or the profile file. Never printed."""
    databricks_profile: str = ""
    """Profile of ~/.databrickscfg to read the host and token from; empty means DATABRICKS_CONFIG_PROFILE or DEFAULT."""
    databricks_workspace_dir: str = "/Shared/operatorflow"
    """Workspace folder that catalog notebooks are imported into and that SparkFlow lists."""
    databricks_cluster_id: str = ""
    """Existing cluster that runs use; empty means a new autoscaling cluster per run."""
    databricks_min_workers: int = 1
    databricks_max_workers: int = 4
    databricks_spark_version: str = ""
    """Runtime of new clusters, such as 15.4.x-scala2.12; empty means the workspace's latest LTS runtime."""
    databricks_node_type: str = ""
    """Node type of new clusters, such as i3.xlarge; empty means the smallest type with at least 16 GB of memory."""

    # Local pipelines and the deep-learning extra
    pipeline_python: str = ""
    """Python interpreter that runs local pipelines and their steps; empty means the app's own. It needs
    requirements.txt and OperatorFlow installed, plus the extras its pipelines name (see operatorflow/extras.py)."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'operatorflow.db'}"

    @property
    def resolved_output_root(self) -> str:
        return self.output_root or str(self.home / "objects" / "runs")

    @property
    def runs_dir(self) -> Path:
        """Local folder with one sub-folder per run: spec, log, outcome and scratch space."""
        return self.home / "runs"


def load_settings(**overrides: object) -> Settings:
    """Build settings from keyword arguments, then the environment, then the embedded defaults."""
    values: dict[str, object] = {}
    for field in dataclasses.fields(Settings):
        if field.name in overrides:
            values[field.name] = overrides[field.name]
            continue

        raw = os.environ.get(ENV_PREFIX + field.name.upper())
        if raw is None or raw == "":
            continue
        values[field.name] = _convert(field, raw)

    unknown = set(overrides) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise InvalidInput(f"Unknown setting(s) {sorted(unknown)}; see operatorflow/settings.py for the list.")

    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.worker not in ("thread", "none"):
        raise InvalidInput(
            f"Invalid {ENV_PREFIX}WORKER {settings.worker!r}: use 'thread' (worker inside the app) or 'none'."
        )
    return settings


def _convert(field: dataclasses.Field, raw: str) -> object:
    name = ENV_PREFIX + field.name.upper()
    kind = field.type
    try:
        if kind in ("Path", Path):
            return Path(raw).expanduser().resolve()
        if kind in ("int", int):
            return int(raw)
        if kind in ("float", float):
            return float(raw)
    except ValueError as exc:
        raise InvalidInput(f"Invalid {name}={raw!r}: expected a {kind}.") from exc
    return raw
