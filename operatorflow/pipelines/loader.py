"""Import a Kubeflow pipeline file and read the one pipeline it defines, with its parameters."""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import sys
import threading
import traceback
import uuid
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from kfp.dsl.graph_component import GraphComponent

from operatorflow.errors import InvalidInput
from operatorflow.notebooks.parser import RESERVED_PARAMETERS
from operatorflow.workflows import Parameter

logger = logging.getLogger(__name__)

# Pipeline input types (as kfp 2.17 names them in `component_spec.inputs`) that a form can fill in.
PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean", "List", "Dict")

# `warnings.catch_warnings` changes process-wide state, so the app's threads import one file at a time.
_IMPORT_LOCK = threading.Lock()


def load_pipeline(path: str | Path) -> GraphComponent:
    """Import the pipeline file and return the one function decorated with `@dsl.pipeline` in it.

    The module stays registered in `sys.modules`, because kfp looks component functions up there.
    """
    module = _import_file(Path(path))
    return _find_pipeline(module, Path(path))


def describe_pipeline(path: str | Path) -> tuple[str, list[Parameter]]:
    """Return the pipeline's description and its input parameters in declaration order.

    Importing a pipeline file only builds the pipeline graph and runs none of its steps.
    Results are cached by path, modification time and size, so a changed file is read again.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise InvalidInput(f"Cannot read pipeline file {path}: {exc.strerror}. Check that the file exists.") from exc
    description, parameters = _describe_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    return description, list(parameters)


def parameter_types(pipeline: GraphComponent) -> dict[str, str]:
    """Return the kfp type name (`Integer`, `Float`, ...) of each input parameter of the pipeline."""
    return {
        name: spec.type
        for name, spec in (pipeline.component_spec.inputs or {}).items()
        if spec.type in PARAMETER_TYPES
    }


@functools.lru_cache(maxsize=64)
def _describe_cached(path: str, mtime_ns: int, size: int) -> tuple[str, tuple[Parameter, ...]]:
    module = _import_file(Path(path))
    try:
        pipeline = _find_pipeline(module, Path(path))
    finally:
        # Describing needs nothing from the module afterwards, so the app's sys.modules stays small.
        sys.modules.pop(module.__name__, None)

    description = _first_line(pipeline.component_spec.description or "")
    parameters = []
    for name, spec in (pipeline.component_spec.inputs or {}).items():
        if name in RESERVED_PARAMETERS:
            continue
        if spec.type not in PARAMETER_TYPES:
            logger.warning(
                "Pipeline %s: input %s is a %s artifact, which the run form cannot supply, so it is left out",
                path, name, spec.type,
            )
            continue
        parameters.append(Parameter(name=name, default=format_default(spec.default), label=spec.description or "",
                                    type=spec.type))
    return description, tuple(parameters)


def format_default(value: Any) -> str:
    """Render a parameter default as the text a form shows and the runner converts back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _import_file(path: Path) -> ModuleType:
    # A unique module name per import, so two catalog files named alike never share a module.
    module_name = f"operatorflow_pipeline_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"Cannot import pipeline file {path}: it must be a Python file ending in .py.")

    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with _IMPORT_LOCK, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spec.loader.exec_module(module)
    # The file is user code, so any error (or sys.exit) it raises is a problem with the file.
    except (Exception, SystemExit) as exc:
        sys.modules.pop(module_name, None)
        raise InvalidInput(
            f"Pipeline file {path} failed to import: {_describe_error(exc, path)}. Fix the file and reload the catalog."
        ) from exc

    for warning in caught:
        logger.warning("Pipeline file %s: %s: %s", path, warning.category.__name__, warning.message)
    return module


def _find_pipeline(module: ModuleType, path: Path) -> GraphComponent:
    pipelines: list[GraphComponent] = []
    for value in vars(module).values():
        if not isinstance(value, GraphComponent) or any(value is found for found in pipelines):
            continue
        # Pipelines imported from another module (to be used as a nested step) do not count.
        if getattr(value.pipeline_func, "__module__", None) != module.__name__:
            continue
        pipelines.append(value)

    if not pipelines:
        raise InvalidInput(
            f"Pipeline file {path} defines no pipeline: decorate one function with @dsl.pipeline from kfp."
        )
    if len(pipelines) > 1:
        names = ", ".join(sorted(p.name for p in pipelines))
        raise InvalidInput(
            f"Pipeline file {path} defines {len(pipelines)} pipelines ({names}): keep exactly one "
            "@dsl.pipeline function per file and move the others to files of their own."
        )
    return pipelines[0]


def _describe_error(exc: BaseException, path: Path) -> str:
    """Return `Type: message (line N)`, with the line in the pipeline file where the error arose."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        return f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"

    lines = [
        frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
        if Path(frame.filename).resolve() == path.resolve()
    ]
    if lines:
        return f"{message} (line {lines[-1]})"
    return message


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
