"""The taxi-tip-keras catalog file: listed without Keras, and its GPU request compiled into the pipeline spec."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from kfp import compiler

from operatorflow.extras import declared_extras
from operatorflow.pipelines.loader import load_pipeline
from operatorflow.settings import PROJECT_DIR

PIPELINE_FILE = PROJECT_DIR / "catalog" / "pipelines" / "taxi_tip_keras.py"
GPU_COUNT = "{{$.inputs.parameters['pipelinechannel--gpu']}}"


def _compiled_spec(tmp_path) -> dict:
    path = tmp_path / "taxi-tip-keras.yaml"
    compiler.Compiler().compile(load_pipeline(PIPELINE_FILE), str(path))
    return yaml.safe_load(path.read_text())


def test_gpu_branch_requests_nvidia_gpus(tmp_path):
    spec = _compiled_spec(tmp_path)

    executors = spec["deploymentSpec"]["executors"]
    branches = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]
    gpu_branch = spec["components"]["comp-condition-3"]["dag"]["tasks"]

    assert executors["exec-train-keras-model-2"]["container"]["resources"] == {
        "accelerator": {"resourceCount": GPU_COUNT, "resourceType": "nvidia.com/gpu", "type": "nvidia.com/gpu"}
    }
    assert list(gpu_branch) == ["train-keras-model-2"]
    assert branches["condition-3"]["triggerPolicy"]["condition"] == (
        "!(int(inputs.parameter_values['pipelinechannel--gpu']) == 0)"
    )


def test_cpu_branch_requests_no_accelerator(tmp_path):
    spec = _compiled_spec(tmp_path)

    executors = spec["deploymentSpec"]["executors"]
    branches = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]
    cpu_branch = spec["components"]["comp-condition-2"]["dag"]["tasks"]

    assert "resources" not in executors["exec-train-keras-model"]["container"]
    assert "resources" not in executors["exec-clean-trips"]["container"]
    assert list(cpu_branch) == ["train-keras-model"]
    assert branches["condition-2"]["triggerPolicy"]["condition"] == (
        "int(inputs.parameter_values['pipelinechannel--gpu']) == 0"
    )


def test_reuses_trainers_clean_trips_step(tmp_path):
    spec = _compiled_spec(tmp_path)
    trainer_path = tmp_path / "taxi-tip-trainer.yaml"
    compiler.Compiler().compile(load_pipeline(PROJECT_DIR / "catalog" / "pipelines" / "taxi_tip_trainer.py"),
                                str(trainer_path))
    trainer = yaml.safe_load(trainer_path.read_text())

    assert spec["deploymentSpec"]["executors"]["exec-clean-trips"] == (
        trainer["deploymentSpec"]["executors"]["exec-clean-trips"]
    )


def test_declares_deep_learning_extra():
    assert declared_extras(PIPELINE_FILE) == ("deep-learning",)


def test_catalog_lists_it_without_importing_keras():
    script = (
        "import json, sys\n"
        "from operatorflow.workflows import Catalog\n"
        "from operatorflow.settings import PROJECT_DIR\n"
        "workflow = Catalog(PROJECT_DIR / 'catalog').get_workflow('taxi-tip-keras')\n"
        "print(json.dumps({'parameters': {p.name: p.default for p in workflow.parameters},\n"
        "                  'imported': sorted(m for m in ('keras', 'torch') if m in sys.modules)}))\n"
    )

    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                              cwd=PROJECT_DIR, check=True)

    listed = json.loads(finished.stdout.strip().splitlines()[-1])
    assert listed["parameters"] == {
        "input_path": "examples/data/chicago_taxi_trips.csv", "epochs": "10", "batch_size": "128",
        "learning_rate": "0.001", "gpu": "0", "test_fraction": "0.2", "seed": "42",
    }
    assert listed["imported"] == []
