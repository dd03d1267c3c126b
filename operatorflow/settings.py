"""Settings, resolved in a fixed order: keyword arguments, then `OPERATORFLOW_*` variables, then defaults.

Every default is embedded, so a fresh clone runs with no configuration: local accounts, a SQLite
registry and a local object store under `var/` in the project folder, local engines.
"""

from __future__ import annotations

import dataclasses
import os
import re
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

    # Sign-in modes: local accounts, Amazon Cognito, or an AWS Application Load Balancer with Cognito.
    auth_mode: str = "local"
    """`local` (accounts in this installation), `cognito` (a Cognito user pool) or `alb` (identity header of an ALB)."""
    cognito_region: str = ""
    """Region of the user pool; empty means the prefix of the pool id (`eu-west-1` for `eu-west-1_AbC123`)."""
    cognito_user_pool_id: str = ""
    cognito_client_id: str = ""
    """App client of the user pool; it must allow the sign-in flow chosen by `cognito_auth_flow`."""
    cognito_client_secret: str = dataclasses.field(default="", repr=False)
    """Secret of the app client, if it has one; empty for a client without a secret. Never printed or logged."""
    cognito_endpoint_url: str = ""
    """Cognito endpoint; empty means AWS's endpoint of the region. Tests point it at moto."""
    cognito_auth_flow: str = "USER_SRP_AUTH"
    """`USER_SRP_AUTH` (the password never leaves the app) or `USER_PASSWORD_AUTH` (the password is sent to Cognito over TLS)."""
    cognito_refresh_minutes: float = 5.0
    """Tokens are renewed on the first page run in which fewer than this many minutes of validity remain."""
    alb_public_key_url: str = ""
    """URL of the ALB's signing keys with a `{kid}` placeholder; empty means AWS's URL for the region in `alb_arn`."""
    alb_arn: str = ""
    """ARN of the load balancer that signs the identity header; tokens from other signers are rejected."""
    # Credentials store
    credentials_backend: str = "database"
    """Backend that keeps engine and service credentials: `database` (encrypted in the registry) or `vault`."""
    credentials_key: str = dataclasses.field(default="", repr=False)
    """Key that encrypts credentials in the database, from `operatorflow credentials generate-key`; empty means
    the key file `home/credentials.key`, created on first use. Never printed."""
    credentials_old_keys: str = dataclasses.field(default="", repr=False)
    """Comma-separated earlier keys, still accepted for reading while `credentials reencrypt` moves values to the new key."""
    vault_url: str = ""
    """Vault server URL, such as https://vault.example.com:8200; empty means VAULT_ADDR."""
    vault_token: str = dataclasses.field(default="", repr=False)
    """Vault token; empty means VAULT_TOKEN. Never printed."""
    vault_mount: str = "secret"
    """Mount point of the KV version 2 secrets engine."""
    vault_path_prefix: str = "operatorflow"
    """Path under the mount below which credentials are kept, as `<prefix>/shared/<name>` and `<prefix>/users/<user>/<name>`."""
    vault_ca_cert: str = ""
    """PEM bundle that verifies Vault's certificate; empty means the system's certificate authorities."""
    # Container workflows
    local_container_run_options: str = "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"
    """Extra options of every `podman run` or `docker run` of the local-container engine, as shell-like words.
    The default lowers the open-file and process limits, because podman 4.3 run as root otherwise raises them
    above what a host with lower hard limits permits, and runc then fails with "error setting rlimits"."""
    kubeflow_container_max_cpu: str = ""
    """Maximum CPUs a container run on Kubeflow may request, such as 8 or 7500m; empty means no maximum."""
    kubeflow_container_max_memory: str = "16Gi"
    """Maximum memory a container run on Kubeflow may request; it cannot raise the product's maximum of 16Gi."""
    kubeflow_container_max_ephemeral_storage: str = "32Gi"
    """Maximum ephemeral storage a container run on Kubeflow may request; it cannot raise the product's 32Gi."""
    kubeflow_container_max_gpus: str = ""
    """Maximum GPUs a container run on Kubeflow may request; empty means no maximum."""
    # Kubeflow Pipelines server (the `kubeflow` engine)
    kubeflow_host: str = ""
    """Kubeflow Pipelines API endpoint, such as https://kubeflow.example.com/pipeline; empty disables the engine."""
    kubeflow_token: str = dataclasses.field(default="", repr=False)
    """Bearer token sent to the endpoint. Never printed or logged."""
    kubeflow_token_file: str = ""
    """File with a bearer token, read again at each request because mounted tokens rotate. Empty means the pod's
    service-account token at /var/run/secrets/kubernetes.io/serviceaccount/token when that file exists."""
    kubeflow_cookies: str = dataclasses.field(default="", repr=False)
    """Session cookies of a Kubeflow behind a load balancer with sign-in, such as
    `AWSELBAuthSessionCookie-0=...; AWSELBAuthSessionCookie-1=...`. Never printed or logged."""
    kubeflow_namespace: str = ""
    """Namespace of experiments and runs on multi-user Kubeflow; `{user}` is replaced by the OperatorFlow user name.
    Empty means the server's default namespace (single-user Kubeflow)."""
    kubeflow_cancel_timeout_seconds: float = 300.0
    """Seconds to wait for the server to confirm a cancellation before the run is marked CANCELED anyway."""
    kubeflow_unreachable_timeout_seconds: float = 900.0
    """Seconds a run's status may stay unreadable (server errors, no connection) before the run is marked FAILED."""
    # Images: building with podman, buildah or Docker and pushing to a registry
    registry_url: str = ""
    """Registry and path that images are pushed under, such as 127.0.0.1:5000/team or
    123456789012.dkr.ecr.eu-west-1.amazonaws.com/team; empty means images are built locally only."""
    registry_username: str = ""
    """User name for a registry other than ECR; the secret provider may supply it instead."""
    registry_password: str = dataclasses.field(default="", repr=False)
    """Password or access token for that registry. Never printed."""
    registry_insecure: bool = False
    """Push over plain HTTP or with an unverified certificate; loopback registries are always allowed to."""
    registry_ecr_endpoint_url: str = ""
    """Endpoint of the ECR API; empty means the AWS default for the registry's region. Tests point it at moto."""
    image_builder: str = ""
    """podman, buildah, docker, or module:callable returning an ImageBuilder; empty picks the first installed tool."""
    image_build_roots: str = ""
    """Folders that build contexts must lie in, separated by the path separator (`:`); empty means the
    project folder and the data folder."""
    image_job_timeout_seconds: float = 3600.0
    """Seconds after which a build or push is stopped."""
    # Access control and private outputs
    s3_presigned_url_seconds: int = 300
    """Seconds a download URL of an S3 output stays valid, at most 900; it is issued only after the access check."""
    # Accounts: email links, sessions, sign-in limits and outgoing mail.
    public_url: str = ""
    """Address users open the app at, used in emailed links; empty means https://localhost:<port>."""
    confirmation_hours: float = 24.0
    """Hours a confirmation link stays valid."""
    reset_hours: float = 2.0
    """Hours a password-reset link stays valid."""
    session_days: float = 7.0
    """Days a browser session lasts before the user signs in again."""
    max_failed_sign_ins: int = 5
    """Failed sign-ins in a row that lock an account."""
    lock_minutes: float = 15.0
    """Minutes an account stays locked after max_failed_sign_ins failures."""
    sign_in_delay_seconds: float = 1.0
    """Pause after the first failed sign-in; it doubles with each further failure, up to 16 times this."""
    smtp_host: str = ""
    """SMTP server for outgoing mail; empty writes each message to `home/outbox` instead."""
    smtp_port: int = 587
    smtp_starttls: bool = True
    """Switch the SMTP connection to TLS with STARTTLS before signing in and sending."""
    smtp_user: str = ""
    """SMTP user name; empty sends without SMTP authentication."""
    smtp_password: str = dataclasses.field(default="", repr=False)
    """SMTP password; never printed."""
    smtp_ca_file: str = ""
    """PEM file of the certificate authorities that the SMTP server's certificate must chain to; empty means the system's."""
    mail_from: str = "OperatorFlow <operatorflow@localhost>"
    """Sender address of account emails."""
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
    _validate_auth_mode(settings)
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
        if kind in ("bool", bool):
            return _convert_bool(name, raw)
    except ValueError as exc:
        raise InvalidInput(f"Invalid {name}={raw!r}: expected a {kind}.") from exc
    return raw


AUTH_MODES = ("local", "cognito", "alb")
COGNITO_AUTH_FLOWS = ("USER_SRP_AUTH", "USER_PASSWORD_AUTH")
# arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID, the form of an ALB's ARN.
ALB_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:loadbalancer/app/[^/]+/[0-9a-f]+$")


def _validate_auth_mode(settings: Settings) -> None:
    """Reject a sign-in mode that is unknown or lacks the settings it needs."""
    if settings.auth_mode not in AUTH_MODES:
        raise InvalidInput(
            f"Invalid {ENV_PREFIX}AUTH_MODE {settings.auth_mode!r}: use 'local', 'cognito' or 'alb'."
        )

    if settings.auth_mode == "cognito":
        missing = [ENV_PREFIX + name.upper() for name in ("cognito_user_pool_id", "cognito_client_id")
                   if not getattr(settings, name)]
        if missing:
            raise InvalidInput(f"{ENV_PREFIX}AUTH_MODE=cognito needs {' and '.join(missing)}: set them to your user pool's values.")
        if settings.cognito_auth_flow not in COGNITO_AUTH_FLOWS:
            raise InvalidInput(
                f"Invalid {ENV_PREFIX}COGNITO_AUTH_FLOW {settings.cognito_auth_flow!r}: use 'USER_SRP_AUTH' or 'USER_PASSWORD_AUTH'."
            )
        if settings.cognito_refresh_minutes <= 0:
            raise InvalidInput(
                f"Invalid {ENV_PREFIX}COGNITO_REFRESH_MINUTES {settings.cognito_refresh_minutes!r}: use a number of minutes above 0."
            )

    if settings.auth_mode == "alb":
        if not settings.alb_public_key_url and not settings.alb_arn:
            raise InvalidInput(
                f"{ENV_PREFIX}AUTH_MODE=alb needs {ENV_PREFIX}ALB_ARN (the load balancer's ARN) "
                f"or {ENV_PREFIX}ALB_PUBLIC_KEY_URL (its key URL with a {{kid}} placeholder)."
            )
        if settings.alb_arn and not ALB_ARN_PATTERN.match(settings.alb_arn):
            raise InvalidInput(
                f"Invalid {ENV_PREFIX}ALB_ARN {settings.alb_arn!r}: expected a load balancer ARN such as "
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188."
            )
        if settings.alb_public_key_url and "{kid}" not in settings.alb_public_key_url:
            raise InvalidInput(
                f"Invalid {ENV_PREFIX}ALB_PUBLIC_KEY_URL {settings.alb_public_key_url!r}: it needs a {{kid}} placeholder, "
                "such as https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}."
            )


def _convert_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"Invalid {name}={raw!r}: use true or false.")
