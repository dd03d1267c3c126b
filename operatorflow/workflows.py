"""Workflows: the notebooks and pipelines a user can run, and the parameters each declares."""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
from pathlib import Path
from typing import Any

from operatorflow.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)


TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")
_EXPECTED = {
    "String": "expected text",
    "Integer": "expected a whole number, such as 42",
    "Float": "expected a number, such as 0.2",
    "Boolean": "expected true or false",
    "List": 'expected a JSON list, such as ["a", "b"]',
    "Dict": 'expected a JSON object, such as {"key": 1}',
}


def describe_expected(type_name: str) -> str:
    """Return what a value of kfp type `type_name` must look like, for error messages."""
    return _EXPECTED.get(type_name, "expected text")


def parse_parameter_value(type_name: str, text: str) -> Any:
    """Convert a parameter's text to kfp type `type_name`; raise ValueError saying what was expected."""
    value = text.strip()
    if type_name == "String":
        return text
    try:
        if type_name == "Integer":
            return int(value)
        if type_name == "Float":
            return float(value)
        if type_name == "Boolean":
            if value.lower() in TRUE_WORDS:
                return True
            if value.lower() in FALSE_WORDS:
                return False
            raise ValueError(value)
        parsed = json.loads(value)
    except ValueError:
        raise ValueError(describe_expected(type_name)) from None
    if not isinstance(parsed, list if type_name == "List" else dict):
        raise ValueError(describe_expected(type_name))
    return parsed


class WorkflowKind(str, enum.Enum):
    NOTEBOOK = "notebook"
    PIPELINE = "pipeline"
    CONTAINER = "container"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class Parameter:
    name: str
    default: str = ""
    label: str = ""
    choices: tuple[str, ...] = ()
    type: str = "String"
    """kfp's type name: String, Integer, Float, Boolean, List or Dict. Notebook widgets are all String."""

    def check_value(self, value: str) -> None:
        """Raise InvalidInput when `value` cannot be read as this parameter's type; empty means the default."""
        if not value.strip():
            return
        try:
            parse_parameter_value(self.type, value)
        except ValueError as exc:
            raise InvalidInput(f"Invalid value {value!r} for {self.name}: {exc}.") from None


@dataclasses.dataclass(frozen=True)
class Workflow:
    name: str
    kind: WorkflowKind
    path: Path
    engine: str
    description: str = ""
    parameters: tuple[Parameter, ...] = ()

    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def resolve_parameters(self, given: dict[str, str]) -> dict[str, str]:
        """Return the defaults overlaid with `given`; raise InvalidInput for a name the workflow lacks."""
        known = {p.name: p.default for p in self.parameters}
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(known) or "none"
            raise InvalidInput(
                f"Unknown parameter(s) {', '.join(unknown)} for {self.name}; it accepts: {names}."
            )
        resolved = dict(known)
        resolved.update({key: str(value) for key, value in given.items()})
        for parameter in self.parameters:
            if parameter.name in given:
                parameter.check_value(resolved[parameter.name])
        return resolved


class Catalog:
    """Reads `notebooks/`, `pipelines/` and `containers/` of a catalog folder; a file that fails to load is skipped and logged.

    Each file is parsed again only when its modification time or size changes, because pages list
    the catalog on every rerun and importing a pipeline module costs about a second.
    """

    def __init__(self, catalog_dir: Path) -> None:
        self._dir = Path(catalog_dir)
        self._cache: dict[Path, tuple[tuple[int, int], Workflow | None]] = {}
        self._problems: dict[Path, str] = {}

    def list_problems(self, kind: WorkflowKind | None = None) -> list[tuple[str, str]]:
        """Return (workflow name, message) for each catalog file of `kind` that could not be read."""
        self.list_workflows(kind)
        folder = {None: None, WorkflowKind.NOTEBOOK: "notebooks", WorkflowKind.PIPELINE: "pipelines",
                  WorkflowKind.CONTAINER: "containers"}[kind]
        return [
            (workflow_name(path), message)
            for path, message in sorted(self._problems.items())
            if path.is_file() and folder in (None, path.parent.name)
        ]

    def list_workflows(self, kind: WorkflowKind | None = None) -> list[Workflow]:
        workflows = []
        if kind in (None, WorkflowKind.NOTEBOOK):
            workflows.extend(self._notebooks())
        if kind in (None, WorkflowKind.PIPELINE):
            workflows.extend(self._pipelines())
        if kind in (None, WorkflowKind.CONTAINER):
            workflows.extend(self._containers())
        return sorted(workflows, key=lambda w: (w.kind.value, w.name))

    def get_workflow(self, name: str) -> Workflow:
        for workflow in self.list_workflows():
            if workflow.name == name:
                return workflow
        known = ", ".join(w.name for w in self.list_workflows()) or "none"
        raise NotFound(f"No workflow named {name!r}; known workflows: {known}.")

    def _notebooks(self) -> list[Workflow]:
        from operatorflow.notebooks.parser import NOTEBOOK_SUFFIXES, describe_notebook

        paths = [p for p in sorted((self._dir / "notebooks").glob("*")) if p.suffix in NOTEBOOK_SUFFIXES]
        return self._load(paths, WorkflowKind.NOTEBOOK, "local-spark", describe_notebook)

    def _pipelines(self) -> list[Workflow]:
        from operatorflow.pipelines.loader import describe_pipeline

        paths = sorted((self._dir / "pipelines").glob("*.py"))
        return self._load(paths, WorkflowKind.PIPELINE, "local-pipeline", describe_pipeline)

    def _containers(self) -> list[Workflow]:
        from operatorflow.containers.spec import DEFAULT_ENGINE, builtin_workflow, describe_container

        paths = sorted((self._dir / "containers").glob("*.yaml"))
        return [builtin_workflow(), *self._load(paths, WorkflowKind.CONTAINER, DEFAULT_ENGINE, describe_container)]

    def _load(self, paths: list[Path], kind: WorkflowKind, engine: str, describe) -> list[Workflow]:
        found = []
        for path in paths:
            if path.name.startswith((".", "_")) or not path.is_file():
                continue
            stat = path.stat()
            version = (stat.st_mtime_ns, stat.st_size)
            cached = self._cache.get(path)
            if cached is not None and cached[0] == version:
                workflow = cached[1]
            else:
                workflow = self._describe(path, kind, engine, describe)
                self._cache[path] = (version, workflow)
            if workflow is None:
                continue
            found.append(workflow)
        return found

    def _describe(self, path: Path, kind: WorkflowKind, engine: str, describe) -> Workflow | None:
        try:
            description, parameters = describe(path)
        except InvalidInput as exc:
            logger.warning("Skipping %s %s: %s", kind.value, path, exc)
            self._problems[path] = str(exc)
            return None
        self._problems.pop(path, None)
        return Workflow(
            name=workflow_name(path),
            kind=kind,
            path=path,
            engine=engine,
            description=description,
            parameters=tuple(parameters),
        )


def workflow_name(path: Path) -> str:
    """`taxi_tip_trainer.py` becomes `taxi-tip-trainer`."""
    return path.stem.replace("_", "-")
