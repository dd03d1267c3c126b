"""Container workflows: an image with its command, arguments, environment, input and resources.

A container workflow is a YAML file in `catalog/containers/` or the built-in `container-image`
workflow, whose parameters are all of those fields, so any image runs without writing a file.
Both turn into a `ContainerSpec` per run (`container_spec_for_run`), which the engines run.

File fields (only `image` is required):

    description: Count the lines of the input files.
    image: registry.example.com/tools/wc:1.0
    command: [sh, -c]                      # a list, or one string of shell-like words
    args: ["wc -l {input}/* > {output}/counts.txt"]
    env: {GREETING: hello}
    input: examples/data                   # default input location, a folder, file or s3:// location
    resources: {cpu: 500m, memory: 512Mi, ephemeral_storage: 1Gi, gpu_count: 0, gpu_type: nvidia.com/gpu}
    parameters:                            # more run parameters, used as {name} in args and env values
      pattern: {default: "error", label: "Text to look for"}

`{input}`, `{output}` and `{scratch}` in arguments and environment values become the paths the
engine gives the container (INPUT_PATH, OUTPUT_PATH and SCRATCH_PATH carry the same paths).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from operatorflow.containers.quantities import GIBIBYTE, format_bytes, parse_quantity
from operatorflow.errors import InvalidInput
from operatorflow.workflows import Parameter, Workflow, WorkflowKind

BUILTIN_NAME = "container-image"
DEFAULT_ENGINE = "local-container"
DEFAULT_GPU_TYPE = "nvidia.com/gpu"
MAX_MEMORY_BYTES = 16 * GIBIBYTE
MAX_EPHEMERAL_STORAGE_BYTES = 32 * GIBIBYTE
PATH_PLACEHOLDERS = ("input", "output", "scratch")
RESOURCE_PARAMETERS = ("cpu", "memory", "ephemeral_storage", "gpu_count", "gpu_type")
_FILE_FIELDS = ("description", "image", "command", "args", "env", "input", "resources", "parameters")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED_ENV = ("INPUT_PATH", "OUTPUT_PATH", "SCRATCH_PATH")


@dataclasses.dataclass(frozen=True)
class Resources:
    """Resources of one container; None means the engine's default. Requests and limits are equal."""

    cpu: Decimal | None = None
    """CPUs, 0.5 for `500m`."""
    memory: int | None = None
    """Bytes."""
    ephemeral_storage: int | None = None
    """Bytes of scratch space."""
    gpu_count: int = 0
    gpu_type: str = DEFAULT_GPU_TYPE
    """Kubernetes extended-resource name of the accelerator, such as nvidia.com/gpu."""

    def describe(self) -> str:
        parts = []
        if self.cpu is not None:
            parts.append(f"{self.cpu.normalize():f} CPU")
        if self.memory is not None:
            parts.append(f"{format_bytes(self.memory)} memory")
        if self.ephemeral_storage is not None:
            parts.append(f"{format_bytes(self.ephemeral_storage)} ephemeral storage")
        if self.gpu_count:
            parts.append(f"{self.gpu_count} x {self.gpu_type}")
        return ", ".join(parts) or "engine defaults"


@dataclasses.dataclass(frozen=True)
class ContainerSpec:
    """One container run, with `{input}`, `{output}` and `{scratch}` still to be filled in by the engine."""

    image: str
    command: tuple[str, ...] = ()
    """Replaces the image's entrypoint when given (Kubernetes `command`)."""
    args: tuple[str, ...] = ()
    """Replaces the image's default arguments when given (Kubernetes `args`)."""
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    input: str = ""
    """Input location: a local folder or file, or s3://bucket/prefix; empty for none."""
    resources: Resources = Resources()

    def to_json(self) -> dict[str, Any]:
        resources = dataclasses.asdict(self.resources)
        resources["cpu"] = None if self.resources.cpu is None else str(self.resources.cpu)
        return {
            "image": self.image,
            "command": list(self.command),
            "args": list(self.args),
            "env": dict(self.env),
            "input": self.input,
            "resources": resources,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerSpec:
        resources = dict(data.get("resources") or {})
        if resources.get("cpu") is not None:
            resources["cpu"] = Decimal(resources["cpu"])
        return cls(
            image=data["image"],
            command=tuple(data.get("command") or ()),
            args=tuple(data.get("args") or ()),
            env=dict(data.get("env") or {}),
            input=data.get("input") or "",
            resources=Resources(**resources),
        )


def fill_placeholders(text: str, values: dict[str, str]) -> str:
    """Replace `{name}` for each name in `values`; other braces, such as awk's `{print $1}`, stay."""
    if not values:
        return text
    pattern = re.compile(r"\{(" + "|".join(re.escape(name) for name in values) + r")\}")
    return pattern.sub(lambda match: values[match.group(1)], text)


# The built-in workflow


def builtin_workflow() -> Workflow:
    """Return `container-image`, whose parameters describe the whole container."""
    return Workflow(
        name=BUILTIN_NAME,
        kind=WorkflowKind.CONTAINER,
        path=Path(),
        engine=DEFAULT_ENGINE,
        description="Run any container image with your command, arguments, environment, input and resources.",
        parameters=(
            Parameter("image", label="Image, such as registry.example.com/team/tool:1.0"),
            Parameter("command", label='Command replacing the entrypoint: shell-like words or a JSON list, such as sh -c'),
            Parameter("args", label='Arguments: shell-like words or a JSON list; {input} and {output} are the mounted paths'),
            Parameter("env", label="Environment variables, one KEY=VALUE per line"),
            Parameter("input", label="Input location: a folder, a file or s3://bucket/prefix (optional)"),
            *_resource_parameters(Resources()),
        ),
    )


def _resource_parameters(defaults: Resources) -> tuple[Parameter, ...]:
    return (
        Parameter("cpu", default=_cpu_text(defaults.cpu), label="CPUs, such as 500m or 2 (empty: engine default)"),
        Parameter("memory", default=_bytes_text(defaults.memory),
                  label="Memory, such as 512Mi or 4Gi, at most 16Gi (empty: engine default)"),
        Parameter("ephemeral_storage", default=_bytes_text(defaults.ephemeral_storage),
                  label="Scratch space at {scratch}, such as 10Gi, at most 32Gi (empty: engine default)"),
        Parameter("gpu_count", default=str(defaults.gpu_count), label="Number of GPUs", type="Integer"),
        Parameter("gpu_type", default=defaults.gpu_type, label="GPU resource name, such as nvidia.com/gpu"),
    )


# Catalog files


@dataclasses.dataclass(frozen=True)
class ContainerFile:
    """A validated `catalog/containers/*.yaml` file."""

    description: str
    spec: ContainerSpec
    parameters: tuple[Parameter, ...]
    """Declared parameters, used as `{name}` in arguments and environment values."""


def describe_container(path: str | Path) -> tuple[str, list[Parameter]]:
    """Return a container file's description and run parameters, for the catalog; raise InvalidInput when invalid."""
    container = load_container_file(path)
    parameters = [
        Parameter("input", default=container.spec.input, label="Input location: a folder, a file or s3://bucket/prefix"),
        *_resource_parameters(container.spec.resources),
        *container.parameters,
    ]
    return container.description, parameters


def load_container_file(path: str | Path) -> ContainerFile:
    """Read and validate a container workflow file; InvalidInput names the file and the field."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"Cannot read container file {path}: {exc.strerror}. Check that the file exists.") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"{path.name}: invalid YAML{where}: {getattr(exc, 'problem', exc)}. Fix the file's syntax.") from None

    if not isinstance(document, dict):
        raise InvalidInput(f"{path.name}: expected a mapping with at least an `image` field at the top level.")
    unknown = sorted(set(document) - set(_FILE_FIELDS))
    if unknown:
        raise InvalidInput(
            f"{path.name}: unknown field(s) {', '.join(map(str, unknown))}; known fields: {', '.join(_FILE_FIELDS)}."
        )

    def field_error(field: str, message: str) -> InvalidInput:
        return InvalidInput(f"{path.name}: field {field}: {message}.")

    description = document.get("description") or ""
    if not isinstance(description, str):
        raise field_error("description", "expected text")
    parameters = _file_parameters(document.get("parameters"), field_error)
    resources = document.get("resources") or {}
    if not isinstance(resources, dict):
        raise field_error("resources", f"expected a mapping with any of {', '.join(RESOURCE_PARAMETERS)}")
    unknown = sorted(set(resources) - set(RESOURCE_PARAMETERS))
    if unknown:
        raise field_error("resources", f"unknown key(s) {', '.join(map(str, unknown))}; "
                                       f"known keys: {', '.join(RESOURCE_PARAMETERS)}")

    try:
        spec = build_spec(
            image=_text(document.get("image"), "image", field_error),
            command=_words_field(document.get("command"), "command", field_error),
            args=_words_field(document.get("args"), "args", field_error),
            env=_env_field(document.get("env"), field_error),
            input_location=_text(document.get("input"), "input", field_error),
            resources={key: _text(value, f"resources.{key}", field_error) for key, value in resources.items()},
        )
    except _FieldError as exc:
        raise field_error(exc.field, exc.message) from None
    return ContainerFile(description=description.strip(), spec=spec, parameters=parameters)


def _file_parameters(raw: Any, field_error) -> tuple[Parameter, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise field_error("parameters", "expected a mapping of parameter names to {default, label}")
    parameters = []
    for name, value in raw.items():
        field = f"parameters.{name}"
        if not isinstance(name, str) or not _PARAMETER_NAME.match(name):
            raise field_error(field, "a name must be lowercase letters, digits and _, starting with a letter")
        if name in PATH_PLACEHOLDERS or name in RESOURCE_PARAMETERS:
            raise field_error(field, f"the name {name} is taken by the built-in parameter of that name")
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"default", "label"})
            if unknown:
                raise field_error(field, f"unknown key(s) {', '.join(map(str, unknown))}; use default and label")
            default, label = value.get("default", ""), value.get("label", "")
        else:
            default, label = value, ""
        parameters.append(Parameter(name, default=_text(default, field, field_error), label=str(label or "")))
    return tuple(parameters)


def _text(value: Any, field: str, field_error) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise field_error(field, f"expected text or a number, got {type(value).__name__}")
    return str(value)


def _words_field(value: Any, field: str, field_error) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(_text(item, f"{field}[{index}]", field_error) for index, item in enumerate(value))
    try:
        return parse_words(_text(value, field, field_error))
    except ValueError as exc:
        raise field_error(field, str(exc)) from None


def _env_field(value: Any, field_error) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise field_error("env", "expected a mapping of variable names to values")
    return {str(name): _text(item, f"env.{name}", field_error) for name, item in value.items()}


# Parsing the text of run parameters


def parse_words(text: str) -> tuple[str, ...]:
    """Split a command or argument list: a JSON list of strings, or shell-like words (`sh -c "echo hi"`)."""
    text = text.strip()
    if not text:
        return ()
    if text.startswith("["):
        try:
            words = json.loads(text)
        except ValueError:
            raise ValueError('a list must be JSON, such as ["sh", "-c", "echo hi"]') from None
        if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
            raise ValueError('a list must contain only strings, such as ["sh", "-c", "echo hi"]')
        return tuple(words)
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise ValueError(f"cannot split {text!r} into words ({exc}); close the quotes or give a JSON list") from None


def parse_env_lines(text: str) -> dict[str, str]:
    """Read `KEY=VALUE` lines; blank lines and lines starting with # are skipped."""
    env = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, separator, value = stripped.partition("=")
        if not separator:
            raise ValueError(f"line {number} ({stripped!r}) has no '=': write KEY=VALUE")
        env[name.strip()] = value
    return env


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def build_spec(*, image: str, command: tuple[str, ...], args: tuple[str, ...], env: dict[str, str],
               input_location: str, resources: dict[str, str]) -> ContainerSpec:
    """Validate the fields of one container and return its spec; raise _FieldError naming the field."""
    image = image.strip()
    if not image:
        raise _FieldError("image", "missing: give an image name, such as registry.example.com/team/tool:1.0")
    if any(character.isspace() for character in image):
        raise _FieldError("image", f"{image!r} contains white space, which no image name has")
    for name in env:
        if not _ENV_NAME.match(name):
            raise _FieldError(f"env.{name}", "a variable name must be letters, digits and _, not starting with a digit")
        if name in _RESERVED_ENV:
            raise _FieldError(f"env.{name}", f"{name} is set by the engine to the mounted path; use another name")
    input_location = input_location.strip()
    if not input_location and any("{input}" in text for text in (*args, *env.values())):
        raise _FieldError("input", "the arguments or environment use {input}, but no input location is given")
    return ContainerSpec(image=image, command=command, args=args, env=env, input=input_location,
                         resources=_parse_resources(resources))


def _parse_resources(values: dict[str, str]) -> Resources:
    cpu = memory = storage = None
    if (values.get("cpu") or "").strip():
        cpu = _quantity(values["cpu"], "resources.cpu")
        if cpu <= 0:
            raise _FieldError("resources.cpu", "must be more than 0, such as 500m or 2")
    if (values.get("memory") or "").strip():
        memory = _byte_quantity(values["memory"], "resources.memory", MAX_MEMORY_BYTES)
    if (values.get("ephemeral_storage") or "").strip():
        storage = _byte_quantity(values["ephemeral_storage"], "resources.ephemeral_storage", MAX_EPHEMERAL_STORAGE_BYTES)
    gpu_text = (values.get("gpu_count") or "0").strip() or "0"
    try:
        gpu_count = int(gpu_text)
    except ValueError:
        raise _FieldError("resources.gpu_count", f"{gpu_text!r} is not a whole number; use 0, 1, 2, ...") from None
    if gpu_count < 0:
        raise _FieldError("resources.gpu_count", f"{gpu_count} is negative; use 0 for no GPU")
    gpu_type = (values.get("gpu_type") or "").strip() or DEFAULT_GPU_TYPE
    return Resources(cpu=cpu, memory=memory, ephemeral_storage=storage, gpu_count=gpu_count, gpu_type=gpu_type)


def _quantity(text: str, field: str) -> Decimal:
    try:
        return parse_quantity(text)
    except ValueError as exc:
        raise _FieldError(field, str(exc)) from None


def _byte_quantity(text: str, field: str, maximum: int) -> int:
    value = _quantity(text, field)
    if value != value.to_integral_value() or value <= 0:
        raise _FieldError(field, f"{text!r} is not a whole number of bytes above 0; use a size such as 512Mi or 4Gi")
    if value > maximum:
        raise _FieldError(field, f"{text} ({format_bytes(value)}) is more than the maximum of {format_bytes(maximum)}")
    return int(value)


def _cpu_text(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def _bytes_text(value: int | None) -> str:
    if value is None:
        return ""
    for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)


# A run's container


def container_spec_for_run(workflow: Workflow, parameters: dict[str, str]) -> ContainerSpec:
    """Build the container of one run from its workflow and resolved parameters; raise InvalidInput when invalid."""
    if workflow.kind is not WorkflowKind.CONTAINER:
        raise InvalidInput(f"Workflow {workflow.name} is a {workflow.kind.value}, not a container workflow.")
    resources = {name: parameters.get(name, "") for name in RESOURCE_PARAMETERS}
    try:
        if workflow.name == BUILTIN_NAME and workflow.path == Path():
            return _builtin_spec(parameters, resources)
        return _file_spec(workflow, parameters, resources)
    except _FieldError as exc:
        name = exc.field.removeprefix("resources.")
        raise InvalidInput(f"Invalid {name} for {workflow.name}: {exc.message}.") from None


def _builtin_spec(parameters: dict[str, str], resources: dict[str, str]) -> ContainerSpec:
    words = {}
    for name in ("command", "args"):
        try:
            words[name] = parse_words(parameters.get(name, ""))
        except ValueError as exc:
            raise _FieldError(name, str(exc)) from None
    try:
        env = parse_env_lines(parameters.get("env", ""))
    except ValueError as exc:
        raise _FieldError("env", str(exc)) from None
    return build_spec(image=parameters.get("image", ""), command=words["command"], args=words["args"], env=env,
                      input_location=parameters.get("input", ""), resources=resources)


def _file_spec(workflow: Workflow, parameters: dict[str, str], resources: dict[str, str]) -> ContainerSpec:
    container = load_container_file(workflow.path)
    declared = {p.name: parameters.get(p.name, p.default) for p in container.parameters}
    spec = container.spec
    return build_spec(
        image=spec.image,
        command=tuple(fill_placeholders(word, declared) for word in spec.command),
        args=tuple(fill_placeholders(word, declared) for word in spec.args),
        env={name: fill_placeholders(value, declared) for name, value in spec.env.items()},
        input_location=parameters.get("input", spec.input),
        resources=resources,
    )
