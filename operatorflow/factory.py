"""The one place that builds OperatorFlow's parts from settings."""

from __future__ import annotations

import logging

from operatorflow.clock import Clock
from operatorflow.engines.base import Engine
from operatorflow.registry import RunRegistry
from operatorflow.service import OperatorFlow
from operatorflow.settings import Settings, load_settings
from operatorflow.storage import ObjectStores
from operatorflow.workflows import Catalog, WorkflowKind

logger = logging.getLogger(__name__)


def build_service(settings: Settings | None = None, clock: Clock | None = None) -> OperatorFlow:
    settings = settings or load_settings()
    clock = clock or Clock()
    settings.home.mkdir(parents=True, exist_ok=True)
    registry = RunRegistry(settings.resolved_database_url, clock)
    stores = ObjectStores(settings.project_dir, settings.s3_endpoint_url)
    service = OperatorFlow(settings, registry, Catalog(settings.catalog_dir), stores, clock)
    check_output_root_private(settings, stores)
    logger.info("OperatorFlow ready: registry %s, catalog %s, outputs under %s",
                registry.url, settings.catalog_dir, settings.resolved_output_root)
    return service


def check_output_root_private(settings: Settings, stores: ObjectStores) -> None:
    """Raise InvalidInput when the S3 bucket of the output root allows public access; local roots pass."""
    root = settings.resolved_output_root
    if not root.startswith("s3://"):
        return
    from operatorflow.storage import split_s3_location
    from operatorflow.storage.s3_access import check_bucket_private

    bucket, _ = split_s3_location(root)
    check_bucket_private(stores.s3_client(), bucket)


def configured_engines(settings: Settings, kind: WorkflowKind) -> list[str]:
    """Return the names of the engines that settings make available for workflows of `kind`, default first."""
    from operatorflow.engines.databricks_config import databricks_enabled

    if kind is WorkflowKind.NOTEBOOK:
        engines = ["local-spark"]
        if settings.spark_cluster_master:
            engines.append("spark-cluster")
        if databricks_enabled(settings):
            engines.append("databricks")
        return engines
    from operatorflow.engines.kubeflow_config import kubeflow_enabled

    remote = ["kubeflow"] if kubeflow_enabled(settings) else []
    if kind is WorkflowKind.CONTAINER:
        return ["local-container", *remote]
    return ["local-pipeline", *remote]


def build_engines(settings: Settings) -> dict[str, Engine]:
    """Return the engines by name, as workflows and runs refer to them."""
    from operatorflow.engines.databricks_config import databricks_enabled
    from operatorflow.engines.pipeline_local import make_local_pipeline_engine
    from operatorflow.engines.spark_local import make_local_spark_engine

    from operatorflow.engines.container_local import make_local_container_engine

    engines = [make_local_spark_engine(settings), make_local_pipeline_engine(settings),
               make_local_container_engine(settings)]
    if settings.spark_cluster_master:
        from operatorflow.engines.spark_cluster import make_spark_cluster_engine

        engines.append(make_spark_cluster_engine(settings))
    if databricks_enabled(settings):
        from operatorflow.engines.databricks import make_databricks_engine

        engines.append(make_databricks_engine(settings))
    from operatorflow.engines.kubeflow_config import kubeflow_enabled

    if kubeflow_enabled(settings):
        from operatorflow.engines.kubeflow import make_kubeflow_engine

        engines.append(make_kubeflow_engine(settings, token_provider=stored_kubeflow_token(settings)))
    return {engine.name: engine for engine in engines}


def stored_kubeflow_token(settings: Settings):
    """Return a token provider that reads each user's `kubeflow-token` from the credentials store, else the shared one."""
    from operatorflow.credentials import KUBEFLOW_TOKEN, resolve_credential

    return lambda user: resolve_credential(user or None, KUBEFLOW_TOKEN, settings)
