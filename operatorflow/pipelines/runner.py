"""Child process of the local-pipeline engine: runs one Kubeflow pipeline with kfp's local runner.

Usage: `python -m operatorflow.pipelines.runner SPEC_PATH`, started by `LocalProcessEngine` with the
project folder as working directory. Each step runs as a subprocess of this process, in the same
Python environment (`SubprocessRunner(use_venv=False)`). kfp 2.17 still runs a component's pip
commands then, into this environment, for `packages_to_install` and for kfp itself unless
`install_kfp_package=False`, so the runner rejects pipelines whose steps would install anything.
Steps inherit the working directory, and a relative local path in a string parameter whose name
ends in `_path` is made absolute against it before the pipeline starts.

Afterwards every output artifact is copied to the run's output folder as `<step>/<output name>`,
the metrics of all steps are merged into `metrics.json` there, and `outcome.json` is written last.
SIGTERM (how the engine cancels) stops the steps and ends the run as CANCELED.
"""

from __future__ import annotations

import collections
import io
import json
import logging
import os
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from operatorflow.engines.process import read_spec, write_outcome
from operatorflow.engines.staging import local_output_dir, publish_output, stage_inputs
from operatorflow.errors import InvalidInput, OperatorFlowError
from operatorflow.extras import find_missing_extra
from operatorflow.pipelines.loader import load_pipeline, parameter_types
from operatorflow.storage import ObjectStores, join_location
from operatorflow.workflows import describe_expected, parse_parameter_value

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
METRICS_SCHEMA = "system.Metrics"
# kfp's local runner colours task names and statuses in its log lines.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
TASK_STARTED = re.compile(r"Executing task '(?P<task>[^']+)'")
TASK_FAILED = re.compile(r"Task '(?P<task>[^']+)' finished with status FAILURE")
# kfp prints each line of a step's output indented by four spaces.
STEP_OUTPUT_INDENT = " " * 4


class RunCanceled(BaseException):
    """Raised in the main thread on SIGTERM. It is a BaseException, so `except Exception` in kfp cannot catch it."""


class StepFailed(Exception):
    """Raised when a pipeline step exits with an error. The message names the step and its error line."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m operatorflow.pipelines.runner SPEC_PATH", file=sys.stderr)
        return 2

    # Tee standard output, so the error line of a failed step can be found in what kfp printed.
    recorder = OutputRecorder(sys.stdout)
    sys.stdout = recorder
    logging.basicConfig(
        stream=recorder, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    spec = read_spec(argv[0])
    run_dir = Path(spec["run_dir"])
    signal.signal(signal.SIGTERM, _cancel_on_sigterm)

    status, result, metrics, error = "FAILED", None, {}, None
    try:
        summary = run_pipeline(spec, recorder)
        status, result, metrics = "SUCCEEDED", json.dumps(summary), summary["metrics"]
    except (RunCanceled, KeyboardInterrupt):
        logger.info("Run %s canceled: stopped the pipeline steps", spec["run_id"])
        status, error = "CANCELED", "Canceled by request."
    except (StepFailed, OperatorFlowError) as exc:
        logger.error("Run %s failed: %s", spec["run_id"], exc, exc_info=True)
        error = str(exc)
    except Exception as exc:
        logger.exception("Run %s failed unexpectedly", spec["run_id"])
        error = (
            f"The pipeline runner failed unexpectedly: {type(exc).__name__}: {_shorten(str(exc))}. "
            "See the run log for the traceback."
        )
    finally:
        # A second SIGTERM must not interrupt writing the outcome.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        write_outcome(run_dir, status, result=result, metrics=metrics, error=error)
        logger.info("Run %s ended %s", spec["run_id"], status)
    return 0 if status == "SUCCEEDED" else 1


def run_pipeline(spec: dict[str, Any], recorder: OutputRecorder) -> dict[str, Any]:
    """Run the spec's pipeline locally, copy its outputs and return the summary stored as the run's result."""
    import kfp.local

    run_dir = Path(spec["run_dir"])
    workflow = spec["workflow"]
    output_location = spec["output_location"]
    working_dir = Path.cwd()
    stores = ObjectStores(working_dir, spec.get("s3_endpoint_url", ""))

    pipeline = load_pipeline(spec["workflow_path"])
    check_no_pip_install(workflow, pipeline)
    # Submitting checks the extras too, but a scheduled run is queued without that check.
    missing_extra = find_missing_extra(workflow, spec["workflow_path"])
    if missing_extra is not None:
        raise InvalidInput(missing_extra)
    staged = stage_inputs(spec["parameters"], stores, run_dir / "staged")
    output_dir = local_output_dir(output_location, stores, run_dir)
    arguments = convert_parameters(workflow, pipeline, staged, working_dir)
    if "output_path" in parameter_types(pipeline):
        arguments["output_path"] = str(output_dir)

    # Steps write their generated source files with `mktemp`; keep them in the run folder, not /tmp.
    scratch_dir = run_dir / "tmp"
    scratch_dir.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(scratch_dir)

    pipeline_root = run_dir / "pipeline_root"
    kfp.local.init(runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
    logger.info("kfp local run of %s started for run %s with %s", pipeline.name, spec["run_id"], arguments)
    try:
        pipeline(**arguments)
    except RuntimeError as exc:
        failed_step = find_failed_step(recorder.lines())
        if failed_step is None:
            raise
        step, error_line = failed_step
        raise StepFailed(
            f"Step {step} of pipeline {workflow} failed: {_shorten(error_line).rstrip('.')}. "
            "See the run log for the full output."
        ) from exc
    logger.info("kfp local run of %s finished for run %s", pipeline.name, spec["run_id"])

    metrics, artifacts, outputs = collect_outputs(pipeline, pipeline_root, output_dir)
    (output_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    publish_output(output_dir, output_location, stores)

    locations = [join_location(output_location, relative) for relative in [*artifacts, METRICS_FILE]]
    return {"pipeline": pipeline.name, "metrics": metrics, "artifacts": locations, "outputs": outputs}


def convert_parameters(workflow: str, pipeline, values: dict[str, str], working_dir: Path) -> dict[str, Any]:
    """Convert parameter text to the pipeline's declared types, or raise InvalidInput naming a bad value.

    An empty value for a parameter that is not a string means the pipeline's own default. A parameter
    declared with the default None needs a value, because kfp 2.17's local runner rejects a missing one
    with "ValueError: Unknown value type".
    """
    types = parameter_types(pipeline)
    inputs = pipeline.component_spec.inputs or {}
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise InvalidInput(
            f"Unknown parameter(s) {', '.join(unknown)} for pipeline {workflow}. It accepts: {', '.join(types) or 'none'}."
        )

    arguments: dict[str, Any] = {}
    for name, text in values.items():
        kind = types[name]
        if kind != "String" and text.strip() == "":
            if inputs[name].default is not None:
                continue
            raise InvalidInput(f"Parameter {name} of pipeline {workflow} needs a value: {describe_expected(kind)}.")
        arguments[name] = _convert(workflow, name, text, kind)

        if kind == "String" and name.endswith("_path") and text and "://" not in text:
            # Joining keeps an absolute path as it is and resolves a relative one against the project folder.
            arguments[name] = str(working_dir / Path(text).expanduser())
    return arguments


def check_no_pip_install(workflow: str, pipeline) -> None:
    """Raise InvalidInput when a step of the pipeline would pip-install packages before it runs."""
    from google.protobuf import json_format

    deployment = json_format.MessageToDict(pipeline.pipeline_spec.deployment_spec)
    installing = []
    for executor, definition in sorted(deployment.get("executors", {}).items()):
        command = definition.get("container", {}).get("command", [])
        # kfp prepends `sh -c "<pip install ...> && $0 $@"` to the command of a component that installs packages.
        if command[:2] == ["sh", "-c"] and len(command) > 2 and "pip install" in command[2]:
            installing.append(executor.removeprefix("exec-"))
    if installing:
        raise InvalidInput(
            f"Step(s) {', '.join(installing)} of pipeline {workflow} would pip-install packages into the app's "
            "environment: in their @dsl.component, set install_kfp_package=False and remove packages_to_install. "
            "Local runs use the packages installed with OperatorFlow."
        )


def _convert(workflow: str, name: str, text: str, kind: str) -> Any:
    try:
        return parse_parameter_value(kind, text)
    except ValueError as exc:
        raise InvalidInput(f"Invalid value {text!r} for parameter {name} of pipeline {workflow}: {exc}.") from exc


def _shorten(text: str, max_chars: int = 500) -> str:
    """Return the first line of `text`, cut to `max_chars`, for an error message shown in the app."""
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= max_chars else first[:max_chars] + "..."


def find_failed_step(lines: list[str]) -> tuple[str, str] | None:
    """Return the last failed step and its error line from the output of kfp's local runner, or None."""
    failed_at = None
    for index, line in enumerate(lines):
        match = TASK_FAILED.search(line)
        if match:
            failed_at, step = index, match.group("task")
    if failed_at is None:
        return None

    started_at = 0
    for index, line in enumerate(lines[:failed_at]):
        match = TASK_STARTED.search(line)
        if match and match.group("task") == step:
            started_at = index
    step_output = [line.removeprefix(STEP_OUTPUT_INDENT) for line in lines[started_at + 1:failed_at]]
    return step, _error_line(step_output)


def _error_line(step_output: list[str]) -> str:
    """Return the exception line of the last traceback, else the last line the step printed."""
    tracebacks = [i for i, line in enumerate(step_output) if line.startswith("Traceback (most recent call last):")]
    if tracebacks:
        # Frames are indented; the first unindented line after them is `ExceptionType: message`.
        for line in step_output[tracebacks[-1] + 1:]:
            if line.strip() and not line[0].isspace():
                return line.strip()

    printed = [line.strip() for line in step_output if line.strip() and "Streamed logs" not in line]
    if printed:
        return printed[-1]
    return "the step exited with an error and printed nothing"


def collect_outputs(pipeline, pipeline_root: Path, output_dir: Path) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """Copy every step's output artifacts to `output_dir` and return merged metrics, copied files and parameter outputs.

    kfp's local runner writes `pipeline_root/<pipeline>-<timestamp>/<step>/executor_output.json` per
    step. Metrics artifacts exist only as metadata there, with no file of their own.
    """
    run_roots = sorted(path for path in pipeline_root.iterdir() if path.is_dir())
    if len(run_roots) != 1:
        raise OperatorFlowError(
            f"Expected one pipeline run folder under {pipeline_root}, found {len(run_roots)}: "
            "each run needs a fresh run folder."
        )

    components = pipeline.pipeline_spec.components
    step_metrics: dict[str, dict[str, Any]] = {}
    artifacts: list[str] = []
    outputs: dict[str, Any] = {}
    for step_dir in sorted(path for path in run_roots[0].iterdir() if path.is_dir()):
        step = step_dir.name
        executor_output = step_dir / "executor_output.json"
        if not executor_output.is_file():
            continue
        written = json.loads(executor_output.read_text())
        if written.get("parameterValues"):
            outputs[step] = written["parameterValues"]

        schemas = _artifact_schemas(components, step)
        for name, entry in (written.get("artifacts") or {}).items():
            for artifact in entry.get("artifacts", []):
                if schemas.get(name) == METRICS_SCHEMA:
                    step_metrics.setdefault(step, {}).update(artifact.get("metadata") or {})
                    continue
                artifacts.extend(_copy_artifact(Path(artifact["uri"]), output_dir, f"{step}/{name}"))

    logger.info("Copied %d artifact files to %s", len(artifacts), output_dir)
    return merge_metrics(step_metrics), artifacts, outputs


def _artifact_schemas(components, step: str) -> dict[str, str]:
    # kfp names a step's folder after its component, without the `comp-` prefix.
    component = components.get(f"comp-{step}")
    if component is None:
        return {}
    return {
        name: definition.artifact_type.schema_title
        for name, definition in component.output_definitions.artifacts.items()
    }


def _copy_artifact(source: Path, output_dir: Path, relative: str) -> list[str]:
    """Copy one artifact (a file or a folder) to `output_dir/relative`; return the copied files."""
    target = output_dir / relative
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        return [relative]
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
        return sorted(f"{relative}/{path.relative_to(source).as_posix()}" for path in source.rglob("*") if path.is_file())
    logger.warning("Artifact %s was declared but the step wrote nothing at %s", relative, source)
    return []


def merge_metrics(step_metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge the metrics of all steps. A name that several steps log is kept once per step as `<step>.<name>`."""
    counts = collections.Counter(name for metrics in step_metrics.values() for name in metrics)
    merged: dict[str, Any] = {}
    for step, metrics in step_metrics.items():
        for name, value in metrics.items():
            merged[name if counts[name] == 1 else f"{step}.{name}"] = value
    return merged


class OutputRecorder(io.TextIOBase):
    """Writes through to a stream without kfp's colour codes and keeps the last lines written."""

    def __init__(self, stream, max_lines: int = 5000) -> None:
        self._stream = stream
        self._lines: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._partial = ""

    def write(self, text: str) -> int:
        clean = ANSI_ESCAPE.sub("", text)
        self._stream.write(clean)
        # Flush per line, so that a reader of the run log gets each line as soon as it is written.
        if "\n" in clean:
            self._stream.flush()
        pieces = (self._partial + clean).split("\n")
        self._partial = pieces.pop()
        self._lines.extend(pieces)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def lines(self) -> list[str]:
        return [*self._lines, self._partial] if self._partial else list(self._lines)

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True


def _cancel_on_sigterm(signum: int, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The engine signals the whole process group; this also covers a runner started on its own.
    for pid in _descendant_pids(os.getpid()):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    raise RunCanceled()


def _descendant_pids(root: int) -> list[int]:
    """Return the process ids of all descendants of `root`, read from /proc (Linux)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:
            continue
        # The parent id is the second field after the parenthesised command name.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children[parent].append(int(stat_path.parent.name))

    found, pending = [], [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


if __name__ == "__main__":
    sys.exit(main())
