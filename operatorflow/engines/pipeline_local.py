"""The local Kubeflow-pipeline engine: each run is kfp's local runner in a child process."""

from __future__ import annotations

from operatorflow.engines.process import LocalProcessEngine
from operatorflow.settings import Settings


def make_local_pipeline_engine(settings: Settings) -> LocalProcessEngine:
    """Build the `local-pipeline` engine, which runs `operatorflow.pipelines.runner` in the project folder."""
    return LocalProcessEngine(
        name="local-pipeline",
        runner_module="operatorflow.pipelines.runner",
        working_dir=settings.project_dir,
        spec_extras={"s3_endpoint_url": settings.s3_endpoint_url},
        python=settings.pipeline_python,
    )
