"""Extras and GPU requests: a local run is rejected before queueing when its packages or GPUs are missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from operatorflow.errors import InvalidInput
from operatorflow.extras import declared_extras
from operatorflow.factory import build_service
from operatorflow.settings import PROJECT_DIR, load_settings

KERAS = "taxi-tip-keras"
EXTRA_MESSAGE = (
    "taxi-tip-keras needs the deep-learning extra: run ./start.sh --with-deep-learning "
    "(installs Keras and the CPU build of PyTorch)"
)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> str:
    """A new virtual environment without packages: a pipeline Python that lacks Keras and PyTorch."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    return str(folder / "bin" / "python")


def test_missing_extra_rejects_run_before_queueing(settings, bare_python):
    service = build_service(load_settings(home=settings.home, worker="none", pipeline_python=bare_python))

    with pytest.raises(InvalidInput) as raised:
        service.submit_run("ada", KERAS, {})

    assert str(raised.value) == EXTRA_MESSAGE
    assert service.list_runs("ada") == []


def test_missing_extra_leaves_other_pipelines_runnable(settings, bare_python):
    service = build_service(load_settings(home=settings.home, worker="none", pipeline_python=bare_python))

    queued = service.submit_run("ada", "taxi-tip-trainer", {})

    assert [run.id for run in service.list_runs("ada")] == [queued.id]
    assert KERAS in [workflow.name for workflow in service.list_workflows()]


def test_missing_extra_from_command_line_exits_2(tmp_path, bare_python):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPERATORFLOW_")}
    env.update({"OPERATORFLOW_HOME": str(tmp_path / "home"), "OPERATORFLOW_PIPELINE_PYTHON": bare_python})

    result = subprocess.run([sys.executable, "-m", "operatorflow.cli", "run", KERAS, "--json"], env=env,
                            capture_output=True, text=True, timeout=120, cwd=PROJECT_DIR)

    assert result.returncode == 2
    assert json.loads(result.stdout) == {"error": {"type": "InvalidInput", "message": EXTRA_MESSAGE}}


def test_gpu_request_rejected_without_gpu(service):
    import torch

    with pytest.raises(InvalidInput) as raised:
        service.submit_run("ada", KERAS, {"gpu": "1"})

    assert str(raised.value) == (
        f"taxi-tip-keras requests 1 GPU(s) with gpu=1, but this machine's pipeline engine has no GPU "
        f"(PyTorch {torch.__version__} sees 0 CUDA device(s)): set gpu to 0 to train on the CPU, "
        "or run the pipeline on a Kubeflow cluster with GPUs."
    )
    assert service.list_runs("ada") == []


def test_negative_gpu_count_rejected(service):
    with pytest.raises(InvalidInput) as raised:
        service.submit_run("ada", KERAS, {"gpu": "-1"})

    assert str(raised.value) == "Invalid value '-1' for gpu: give 0 (CPU only) or a positive GPU count."


def test_cpu_run_queues_with_extra_installed(service):
    queued = service.submit_run("ada", KERAS, {"epochs": "3"})

    assert queued.parameters["gpu"] == "0"
    assert queued.parameters["epochs"] == "3"


@pytest.mark.parametrize("line, expected", [
    ('REQUIRES_EXTRAS = ("deep-learning",)\n', ("deep-learning",)),
    ('REQUIRES_EXTRAS = ["deep-learning"]\n', ("deep-learning",)),
    ("x = 1\n", ()),
])
def test_declared_extras_read_without_import(tmp_path, line, expected):
    path = tmp_path / "pipeline.py"
    path.write_text("import no_such_module\n" + line)

    assert declared_extras(path) == expected


def test_declared_extras_must_be_literal(tmp_path):
    path = tmp_path / "pipeline.py"
    path.write_text("NAMES = ('deep-learning',)\nREQUIRES_EXTRAS = NAMES\n")

    with pytest.raises(InvalidInput) as raised:
        declared_extras(path)

    assert str(raised.value) == (
        f"Pipeline file {path}: REQUIRES_EXTRAS must be a tuple of extra names written out, "
        "such as ('deep-learning',); known extras: deep-learning."
    )


def test_unknown_extra_rejects_run(tmp_path):
    catalog = tmp_path / "catalog"
    (catalog / "pipelines").mkdir(parents=True)
    (catalog / "notebooks").mkdir()
    source = (PROJECT_DIR / "catalog" / "pipelines" / "taxi_tip_trainer.py").read_text()
    (catalog / "pipelines" / "needs_quantum.py").write_text(source + '\nREQUIRES_EXTRAS = ("quantum",)\n')
    service = build_service(load_settings(home=tmp_path / "home", worker="none", catalog_dir=catalog))

    with pytest.raises(InvalidInput) as raised:
        service.submit_run("ada", "needs-quantum", {})

    path = Path(catalog / "pipelines" / "needs_quantum.py")
    assert str(raised.value) == (
        f"needs-quantum needs the unknown extra 'quantum': fix REQUIRES_EXTRAS in {path}; known extras: deep-learning."
    )


@pytest.mark.pipeline
def test_runner_fails_queued_run_without_extra(tmp_path):
    from operatorflow.engines.pipeline_local import make_local_pipeline_engine
    from operatorflow.status import RunStatus
    from operatorflow.workflows import Catalog, WorkflowKind
    from tests.pipelines.test_runner import submit, wait_for_end

    catalog = tmp_path / "catalog"
    (catalog / "pipelines").mkdir(parents=True)
    source = (PROJECT_DIR / "catalog" / "pipelines" / "taxi_tip_trainer.py").read_text()
    (catalog / "pipelines" / "needs_quantum.py").write_text(source + '\nREQUIRES_EXTRAS = ("quantum",)\n')
    settings = load_settings(home=tmp_path / "home", catalog_dir=catalog)
    [workflow] = Catalog(catalog).list_workflows(WorkflowKind.PIPELINE)
    engine = make_local_pipeline_engine(settings)

    # As a schedule does, the run goes to the engine without the service's submission checks.
    engine_run_id, run = submit(engine, workflow, tmp_path)
    status = wait_for_end(engine, engine_run_id, run)

    assert status.status is RunStatus.FAILED
    assert status.error_message == (
        f"needs-quantum needs the unknown extra 'quantum': fix REQUIRES_EXTRAS in {workflow.path}; "
        "known extras: deep-learning."
    )
    assert not (run.run_dir / "pipeline_root").exists()
