"""Optional package sets (extras) that some catalog pipelines need, and the checks run before a run is queued.

A pipeline file names its extras in a top-level `REQUIRES_EXTRAS = ("deep-learning",)`, read here
without importing the file. A pipeline parameter named `gpu` is a count of NVIDIA GPUs for its
training step. Both are checked only for engines that run the steps on this machine.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

from operatorflow.errors import InvalidInput
from operatorflow.settings import Settings
from operatorflow.workflows import Workflow

logger = logging.getLogger(__name__)

EXTRAS_VARIABLE = "REQUIRES_EXTRAS"
GPU_PARAMETER = "gpu"
LOCAL_ENGINES = ("local-pipeline",)
"""Engines whose pipeline steps run in the Python of `Settings.pipeline_python` on this machine."""
PROBE_TIMEOUT_SECONDS = 120.0


@dataclasses.dataclass(frozen=True)
class Extra:
    name: str
    modules: tuple[str, ...]
    """Top-level modules that must be importable."""
    install_hint: str


EXTRAS = {
    "deep-learning": Extra(
        name="deep-learning",
        modules=("keras", "torch"),
        install_hint="run ./start.sh --with-deep-learning (installs Keras and the CPU build of PyTorch)",
    ),
}

# Run in the pipeline Python: prints the names of the given modules that it cannot find.
_FIND_MODULES = (
    "import importlib.util, json, sys; "
    "print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]))"
)
# Run in the pipeline Python: prints PyTorch's version and the CUDA devices it can use.
_COUNT_GPUS = (
    "import json, torch; "
    "print(json.dumps({'torch': torch.__version__, 'gpus': torch.cuda.device_count()}))"
)


def declared_extras(path: str | Path) -> tuple[str, ...]:
    """Return the extras a pipeline file names in `REQUIRES_EXTRAS`, or () when it names none.

    The file is parsed, not imported, so this works while the extra's packages are missing.
    """
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        # The catalog reports unreadable files itself, with the loader's message.
        return ()

    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        if not any(isinstance(target, ast.Name) and target.id == EXTRAS_VARIABLE for target in node.targets):
            continue
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            value = None
        if not isinstance(value, (tuple, list)) or not all(isinstance(item, str) for item in value):
            raise InvalidInput(
                f"Pipeline file {path}: {EXTRAS_VARIABLE} must be a tuple of extra names written out, "
                f"such as ('deep-learning',); known extras: {', '.join(EXTRAS)}."
            )
        return tuple(value)
    return ()


def missing_extras_message(settings: Settings, workflow: Workflow) -> str | None:
    """Return why `workflow` cannot run on this machine's engine for lack of an extra, or None when it can."""
    return find_missing_extra(workflow.name, workflow.path, settings.pipeline_python)


def find_missing_extra(workflow_name: str, path: str | Path, python: str = "") -> str | None:
    """Return why the pipeline file at `path` cannot run in `python` (empty: this process), or None when it can."""
    for name in declared_extras(path):
        extra = EXTRAS.get(name)
        if extra is None:
            return (
                f"{workflow_name} needs the unknown extra {name!r}: fix {EXTRAS_VARIABLE} in {path}; "
                f"known extras: {', '.join(EXTRAS)}."
            )
        missing = missing_modules(python, extra.modules)
        if missing:
            logger.info("extras %s lacks module(s) %s of the %s extra", workflow_name, ", ".join(missing), name)
            return f"{workflow_name} needs the {name} extra: {extra.install_hint}"
    return None


def check_run_requirements(settings: Settings, workflow: Workflow, parameters: dict[str, str], engine: str) -> None:
    """Raise InvalidInput when a local run of `workflow` would fail for a missing extra or GPU."""
    if engine not in LOCAL_ENGINES:
        return

    message = missing_extras_message(settings, workflow)
    if message is not None:
        raise InvalidInput(message)

    if GPU_PARAMETER in workflow.parameter_names():
        _check_gpu_request(settings, workflow, parameters.get(GPU_PARAMETER, ""))


def _check_gpu_request(settings: Settings, workflow: Workflow, text: str) -> None:
    try:
        requested = int(text.strip() or "0")
    except ValueError:
        raise InvalidInput(
            f"Invalid value {text!r} for {GPU_PARAMETER}: expected a whole number of GPUs, such as 0 or 1."
        ) from None
    if requested < 0:
        raise InvalidInput(f"Invalid value {text!r} for {GPU_PARAMETER}: give 0 (CPU only) or a positive GPU count.")
    if requested == 0:
        return

    torch_version, available = local_gpu_count(settings.pipeline_python)
    if requested > available:
        found = "no GPU" if available == 0 else f"only {available} GPU(s)"
        raise InvalidInput(
            f"{workflow.name} requests {requested} GPU(s) with {GPU_PARAMETER}={requested}, but this machine's "
            f"pipeline engine has {found} (PyTorch {torch_version} sees {available} CUDA device(s)): "
            f"set {GPU_PARAMETER} to 0 to train on the CPU, or run the pipeline on a Kubeflow cluster with GPUs."
        )


def missing_modules(python: str, modules: tuple[str, ...]) -> list[str]:
    """Return the modules of `modules` that `python` cannot import; an empty `python` means this process."""
    if not python:
        # Forget cached folder listings, so packages installed while the app runs are found.
        importlib.invalidate_caches()
        return [module for module in modules if importlib.util.find_spec(module) is None]
    return _missing_modules_in(python, modules)


@functools.lru_cache(maxsize=16)
def _missing_modules_in(python: str, modules: tuple[str, ...]) -> list[str]:
    # NOTE: cached for the process's life, so an extra installed into another Python while the app
    # runs is noticed only after a restart of the app.
    return json.loads(_probe(python, [_FIND_MODULES, *modules]))


@functools.lru_cache(maxsize=16)
def local_gpu_count(python: str) -> tuple[str, int]:
    """Return PyTorch's version and the number of CUDA devices it detects in `python` (empty: this process's Python).

    The check runs in a child process, so it does not load PyTorch into the app. Its result is cached
    because GPUs are not expected to come or go while the app runs.
    """
    output = json.loads(_probe(python or sys.executable, [_COUNT_GPUS]))
    logger.info("extras PyTorch %s sees %d CUDA device(s)", output["torch"], output["gpus"])
    return str(output["torch"]), int(output["gpus"])


def _probe(python: str, arguments: list[str]) -> str:
    try:
        finished = subprocess.run([python, "-c", *arguments], capture_output=True, text=True,
                                  timeout=PROBE_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidInput(
            f"Could not run the pipeline Python {python} ({exc}): check OPERATORFLOW_PIPELINE_PYTHON."
        ) from exc
    if finished.returncode != 0:
        last_line = (finished.stderr.strip().splitlines() or ["no error output"])[-1]
        raise InvalidInput(
            f"The pipeline Python {python} failed to check its packages ({last_line}): "
            "check OPERATORFLOW_PIPELINE_PYTHON and the packages installed there."
        )
    return finished.stdout.strip().splitlines()[-1]
