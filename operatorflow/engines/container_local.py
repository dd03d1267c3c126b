"""The `local-container` engine: each container run is `podman run` (or `docker run`) in a child process."""

from __future__ import annotations

import json

from operatorflow.containers.limits import LOCAL_ENGINE
from operatorflow.containers.runner import CANCEL_GRACE_SECONDS, CONTAINER_FILE
from operatorflow.containers.spec import container_spec_for_run
from operatorflow.engines.base import EngineRun
from operatorflow.engines.process import LocalProcessEngine
from operatorflow.settings import Settings

RUNNER_MODULE = "operatorflow.containers.runner"


class LocalContainerEngine(LocalProcessEngine):
    """Writes the run's container to the run folder, then starts the runner process like the other local engines."""

    def submit_run(self, run: EngineRun) -> str:
        spec = container_spec_for_run(run.workflow, run.parameters)
        run.run_dir.mkdir(parents=True, exist_ok=True)
        (run.run_dir / CONTAINER_FILE).write_text(json.dumps(spec.to_json(), indent=2))
        return super().submit_run(run)


def make_local_container_engine(settings: Settings) -> LocalContainerEngine:
    """Build the engine that runs `operatorflow.containers.runner` in the project folder."""
    return LocalContainerEngine(
        name=LOCAL_ENGINE,
        runner_module=RUNNER_MODULE,
        working_dir=settings.project_dir,
        spec_extras={
            "s3_endpoint_url": settings.s3_endpoint_url,
            "run_options": settings.local_container_run_options,
        },
        cancel_grace_seconds=CANCEL_GRACE_SECONDS,
    )
