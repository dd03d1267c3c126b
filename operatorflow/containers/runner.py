"""Child process of the local-container engine: runs one container with podman or Docker and records the end.

Usage: `python -m operatorflow.containers.runner SPEC_PATH`, started by `LocalProcessEngine` with the
project folder as working directory; the run folder contains the resolved container (`container.json`).
The runner copies an `s3://` input into the run folder first. It mounts the input read-only at
/mnt/input, the output folder read-write at /mnt/output and a scratch folder at /scratch, and it
streams the container's output into the run log. Afterwards it uploads an `s3://` output and
writes `outcome.json` last. SIGTERM (how the engine cancels) stops the container, and the run
ends CANCELED.
"""

from __future__ import annotations

import collections
import json
import logging
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from operatorflow.containers.limits import RUNTIME_MISSING, find_container_runtime
from operatorflow.containers.spec import ContainerSpec, fill_placeholders
from operatorflow.engines.process import read_spec, write_outcome
from operatorflow.engines.staging import local_output_dir, publish_output, stage_inputs
from operatorflow.errors import InvalidInput, OperatorFlowError
from operatorflow.storage import ObjectStores

logger = logging.getLogger(__name__)

CONTAINER_FILE = "container.json"
"""The run's resolved container in its run folder: the engine writes it, the runner reads it, and it records what ran."""
INPUT_MOUNT = "/mnt/input"
OUTPUT_MOUNT = "/mnt/output"
SCRATCH_MOUNT = "/scratch"
LOG_TAIL_LINES = 20
STOP_TIMEOUT_SECONDS = 5
"""Seconds `podman stop` waits after SIGTERM before it kills the container."""
STOP_DEADLINE_SECONDS = 30.0
"""Seconds the runner keeps asking to stop a container that has not been created yet when the cancel arrives."""
CANCEL_GRACE_SECONDS = STOP_DEADLINE_SECONDS + 10
"""Seconds the worker waits after SIGTERM before it kills the runner, so the runner can stop the container first."""


def container_name(run_id: str) -> str:
    return f"operatorflow-{run_id}"


def build_run_command(runtime: str, spec: ContainerSpec, *, name: str, input_path: Path | None,
                      output_dir: Path, scratch_dir: Path, run_options: str = "") -> list[str]:
    """Return the `podman run` (or `docker run`) command line of one container.

    Both take `--entrypoint` as one executable, so the rest of `command` goes before `args`.
    """
    paths = {"output": OUTPUT_MOUNT, "scratch": SCRATCH_MOUNT}
    volumes = [f"{output_dir}:{OUTPUT_MOUNT}", f"{scratch_dir}:{SCRATCH_MOUNT}"]
    if input_path is not None:
        inside = INPUT_MOUNT if input_path.is_dir() else f"{INPUT_MOUNT}/{input_path.name}"
        volumes.append(f"{input_path}:{inside}:ro")
        paths["input"] = inside

    command = [runtime, "run", "--rm", "--name", name, *shlex.split(run_options)]
    resources = spec.resources
    if resources.cpu is not None:
        command += ["--cpus", f"{resources.cpu.normalize():f}"]
    if resources.memory is not None:
        command += ["--memory", f"{resources.memory}b"]
    if resources.gpu_count:
        # NOTE: never run here (no GPU on the development machine). podman selects GPUs by CDI name,
        # which needs the NVIDIA Container Toolkit's CDI spec; Docker needs its NVIDIA runtime.
        if Path(runtime).name == "docker":
            command += ["--gpus", str(resources.gpu_count)]
        else:
            for index in range(resources.gpu_count):
                command += ["--device", f"{resources.gpu_type}={index}"]
    for volume in volumes:
        command += ["--volume", volume]
    env = {
        **{key: fill_placeholders(value, paths) for key, value in spec.env.items()},
        "OUTPUT_PATH": paths["output"],
        "SCRATCH_PATH": paths["scratch"],
    }
    if "input" in paths:
        env["INPUT_PATH"] = paths["input"]
    for key, value in env.items():
        command += ["--env", f"{key}={value}"]

    words = [fill_placeholders(word, paths) for word in (*spec.command, *spec.args)]
    if spec.command:
        command += ["--entrypoint", words[0]]
        words = words[1:]
    return [*command, spec.image, *words]


class ContainerProcess:
    """A running `podman run`, whose output goes line by line into this process's output (the run log)."""

    def __init__(self, runtime: str, command: list[str], name: str) -> None:
        self.runtime = runtime
        self.name = name
        self.tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self.stop_requested = threading.Event()
        # Its own session, so the engine's SIGTERM to the runner's group reaches only the runner,
        # which then stops the container through the runtime (a container's PID 1 may ignore SIGTERM).
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def stream(self) -> int:
        """Copy the container's output to standard output until it ends; return its exit code."""
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            line = raw.decode("utf-8", errors="replace")
            self.tail.append(line.rstrip("\n"))
            sys.stdout.write(line)
            sys.stdout.flush()
        return self._process.wait()

    def request_stop(self) -> None:
        """Stop the container from another thread, retrying while it is still being created."""
        if self.stop_requested.is_set():
            return
        self.stop_requested.set()
        threading.Thread(target=self._stop, name="container-stop", daemon=True).start()

    def _stop(self) -> None:
        deadline = time.monotonic() + STOP_DEADLINE_SECONDS
        while self._process.poll() is None and time.monotonic() < deadline:
            # Its own session too, so that a worker's SIGKILL to the runner's group cannot interrupt the stop.
            completed = subprocess.run(
                [self.runtime, "stop", "--time", str(STOP_TIMEOUT_SECONDS), self.name],
                capture_output=True, text=True, check=False, start_new_session=True,
            )
            logger.info("%s stop %s: exit code %d %s", Path(self.runtime).name, self.name, completed.returncode,
                        completed.stderr.strip())
            if self._process.poll() is not None:
                return
            time.sleep(1.0)
        if self._process.poll() is None:
            logger.warning("Container %s did not stop within %.0f s; killing the %s client",
                           self.name, STOP_DEADLINE_SECONDS, Path(self.runtime).name)
            self._process.kill()


def run_container(spec: dict[str, Any], on_started) -> dict[str, Any]:
    """Stage, run and publish one container; return the run's result. Raises RunCanceledError or ContainerFailed."""
    run_dir = Path(spec["run_dir"])
    container = ContainerSpec.from_json(json.loads((run_dir / CONTAINER_FILE).read_text()))
    runtime = find_container_runtime()
    if runtime is None:
        raise InvalidInput(f"{RUNTIME_MISSING}.")

    stores = ObjectStores(Path.cwd(), spec.get("s3_endpoint_url", ""))
    input_path = None
    if container.input:
        staged = stage_inputs({"input": container.input}, stores, run_dir / "staged")["input"]
        input_path = Path(staged).resolve()
        if not input_path.exists():
            raise InvalidInput(f"The input location {container.input} does not exist: give an existing folder or file.")
    output_dir = local_output_dir(spec["output_location"], stores, run_dir).resolve()
    scratch_dir = (run_dir / "scratch").resolve()
    scratch_dir.mkdir(parents=True, exist_ok=True)

    name = container_name(spec["run_id"])
    command = build_run_command(runtime, container, name=name, input_path=input_path, output_dir=output_dir,
                                scratch_dir=scratch_dir, run_options=spec.get("run_options", ""))
    logger.info("Starting %s", shlex.join(_without_env_values(command)))
    process = ContainerProcess(runtime, command, name)
    on_started(process)
    code = process.stream()
    logger.info("%s run %s exited with code %d", Path(runtime).name, name, code)
    if process.stop_requested.is_set():
        raise RunCanceledError()
    if code != 0:
        raise ContainerFailed(_failure_message(container.image, code, list(process.tail)))

    uploaded = publish_output(output_dir, spec["output_location"], stores)
    objects = len(uploaded) if uploaded else sum(1 for p in output_dir.rglob("*") if p.is_file())
    return {"image": container.image, "exit_code": code, "output_location": spec["output_location"],
            "output_objects": objects}


def _without_env_values(command: list[str]) -> list[str]:
    """Return `command` with environment values masked, because they may hold secrets such as tokens."""
    masked = list(command)
    for index in range(1, len(masked)):
        if masked[index - 1] == "--env":
            masked[index] = masked[index].partition("=")[0] + "=***"
    return masked


class RunCanceledError(Exception):
    """Raised when the container ended because the run was canceled."""


class ContainerFailed(Exception):
    """Raised when the container exits with a code other than 0; the message contains the last log lines."""


def _failure_message(image: str, code: int, tail: list[str]) -> str:
    hint = ""
    if code == 137:
        hint = " Code 137 means the container was killed, often for using more memory than its limit."
    elif code == 125:
        hint = " Code 125 means the container runtime itself failed, for example for an image it cannot find."
    lines = "\n".join(tail) or "(the container wrote no output)"
    return f"The container {image} exited with code {code}.{hint} Last log lines:\n{lines}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m operatorflow.containers.runner SPEC_PATH", file=sys.stderr)
        return 2

    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    spec = read_spec(argv[0])
    run_dir = Path(spec["run_dir"])
    started: list[ContainerProcess] = []
    canceled = threading.Event()

    def on_sigterm(signum, _frame) -> None:
        logger.info("Run %s: cancel requested (signal %d), stopping the container", spec["run_id"], signum)
        canceled.set()
        for process in started:
            process.request_stop()

    def on_started(process: ContainerProcess) -> None:
        started.append(process)
        if canceled.is_set():
            process.request_stop()

    signal.signal(signal.SIGTERM, on_sigterm)
    status, result, error = "FAILED", None, None
    try:
        if canceled.is_set():
            raise RunCanceledError()
        result = json.dumps(run_container(spec, on_started))
        status = "SUCCEEDED"
    except RunCanceledError:
        status, error = "CANCELED", "Canceled by request."
    except (ContainerFailed, OperatorFlowError) as exc:
        logger.error("Run %s failed: %s", spec["run_id"], exc)
        error = str(exc)
    except Exception as exc:
        logger.exception("Run %s failed unexpectedly", spec["run_id"])
        error = f"The container runner failed unexpectedly: {type(exc).__name__}: {exc}. See the run log."
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if canceled.is_set() and status == "FAILED":
            status, error = "CANCELED", "Canceled by request."
        write_outcome(run_dir, status, result=result, error=error)
        logger.info("Run %s ended %s", spec["run_id"], status)
    return 0 if status == "SUCCEEDED" else 1


if __name__ == "__main__":
    raise SystemExit(main())
