"""Checks that reject a container run before it is queued when its engine cannot give what it requests.

`check_run_request` is the hook `OperatorFlow.submit_run` calls. It builds the run's container
(which validates every field) and calls the check registered for the chosen engine in
`RESOURCE_CHECKS`: the machine's CPUs, memory, free disk and GPUs for `local-container`, and the
product and settings maxima for `kubeflow`.
"""

from __future__ import annotations

import logging
import os
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Callable

from operatorflow.containers.quantities import format_bytes, format_cpus, parse_quantity
from operatorflow.containers.spec import (
    MAX_EPHEMERAL_STORAGE_BYTES,
    MAX_MEMORY_BYTES,
    ContainerSpec,
    container_spec_for_run,
)
from operatorflow.errors import InvalidInput
from operatorflow.settings import Settings
from operatorflow.workflows import Workflow, WorkflowKind

logger = logging.getLogger(__name__)

LOCAL_ENGINE = "local-container"
KUBEFLOW_ENGINE = "kubeflow"
RUNTIME_MISSING = "Local container runs need podman or Docker: install one (Debian: apt-get install podman runc)"

ResourceCheck = Callable[[Settings, ContainerSpec, str], None]
"""Raise InvalidInput when the engine cannot give `spec` its resources; the last argument is the output location."""


def check_run_request(settings: Settings, workflow: Workflow, engine: str, parameters: dict[str, str],
                      output_location: str) -> None:
    """Raise InvalidInput when a container run is invalid or requests more than `engine` can give."""
    if workflow.kind is not WorkflowKind.CONTAINER:
        return
    spec = container_spec_for_run(workflow, parameters)
    check = RESOURCE_CHECKS.get(engine)
    if check is not None:
        check(settings, spec, output_location)


# local-container


def find_container_runtime() -> str | None:
    """Return the path of podman, or of docker when podman is missing, or None when neither is on PATH."""
    return shutil.which("podman") or shutil.which("docker")


def machine_memory_bytes() -> int | None:
    """Return MemTotal from /proc/meminfo, or None where that file does not exist."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemTotal:"):
            # The kernel writes the value in KiB, labelled "kB".
            return int(line.split()[1]) * 1024
    return None


def machine_gpu_count() -> int:
    """Count NVIDIA GPU device files (/dev/nvidia0, /dev/nvidia1, ...); other GPU makers are not detected."""
    return len([p for p in Path("/dev").glob("nvidia*") if p.name[len("nvidia"):].isdigit()])


def free_disk_bytes(path: Path) -> int:
    """Return the free bytes of the file system that contains `path`, where local runs keep their scratch folders."""
    return shutil.disk_usage(path).free


def check_local_resources(settings: Settings, spec: ContainerSpec, output_location: str) -> None:
    """Reject a local run when no container runtime is installed or the machine is too small for it."""
    if find_container_runtime() is None:
        raise InvalidInput(f"{RUNTIME_MISSING}.")

    if spec.input and "://" not in spec.input:
        path = settings.project_dir / spec.input
        if not path.exists():
            raise InvalidInput(f"The input location {spec.input} does not exist in {settings.project_dir}: "
                               "give an existing folder or file, or an s3:// location.")

    resources = spec.resources
    cpus = os.cpu_count() or 1
    if resources.cpu is not None and resources.cpu > cpus:
        raise InvalidInput(
            f"The run requests {format_cpus(resources.cpu)} CPUs, but this machine has {cpus}: "
            f"request at most {cpus}, or run it on Kubeflow."
        )
    memory = machine_memory_bytes()
    if resources.memory is not None and memory is not None and resources.memory > memory:
        raise InvalidInput(
            f"The run requests {format_bytes(resources.memory)} of memory, but this machine has "
            f"{format_bytes(memory)}: request less, or run it on Kubeflow."
        )
    if resources.ephemeral_storage is not None:
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        free = free_disk_bytes(settings.runs_dir)
        if resources.ephemeral_storage > free:
            raise InvalidInput(
                f"The run requests {format_bytes(resources.ephemeral_storage)} of ephemeral storage, but "
                f"{settings.runs_dir} has {format_bytes(free)} free: request less or free some disk space."
            )
    if resources.gpu_count:
        gpus = machine_gpu_count()
        if resources.gpu_count > gpus:
            have = f"only {gpus}" if gpus else "none"
            raise InvalidInput(
                f"The run requests {resources.gpu_count} GPU(s), but this machine has {have}: "
                "set gpu_count to 0, or run it on Kubeflow."
            )


# kubeflow


def kubeflow_maxima(settings: Settings) -> tuple[Decimal | None, int, int, int | None]:
    """Return the Kubeflow maxima (CPUs, memory bytes, ephemeral-storage bytes, GPUs); None means no maximum.

    Settings can only lower the product's own maxima of 16 GiB memory and 32 GiB ephemeral storage.
    """
    def read(name: str) -> Decimal | None:
        raw = getattr(settings, name).strip()
        if not raw:
            return None
        try:
            return parse_quantity(raw)
        except ValueError as exc:
            raise InvalidInput(f"Invalid OPERATORFLOW_{name.upper()}={raw!r}: {exc}.") from None

    cpu = read("kubeflow_container_max_cpu")
    memory = read("kubeflow_container_max_memory")
    storage = read("kubeflow_container_max_ephemeral_storage")
    gpus = read("kubeflow_container_max_gpus")
    return (
        cpu,
        MAX_MEMORY_BYTES if memory is None else min(int(memory), MAX_MEMORY_BYTES),
        MAX_EPHEMERAL_STORAGE_BYTES if storage is None else min(int(storage), MAX_EPHEMERAL_STORAGE_BYTES),
        None if gpus is None else int(gpus),
    )


def check_kubeflow_resources(settings: Settings, spec: ContainerSpec, output_location: str) -> None:
    """Reject a Kubeflow run beyond the maxima, or with local locations that a cluster's pods cannot reach."""
    max_cpu, max_memory, max_storage, max_gpus = kubeflow_maxima(settings)
    resources = spec.resources
    if max_cpu is not None and resources.cpu is not None and resources.cpu > max_cpu:
        raise InvalidInput(
            f"The run requests {format_cpus(resources.cpu)} CPUs, but Kubeflow runs may request at most "
            f"{format_cpus(max_cpu)} (OPERATORFLOW_KUBEFLOW_CONTAINER_MAX_CPU): request less."
        )
    if resources.memory is not None and resources.memory > max_memory:
        raise InvalidInput(
            f"The run requests {format_bytes(resources.memory)} of memory, but Kubeflow runs may request at most "
            f"{format_bytes(max_memory)}: request less."
        )
    if resources.ephemeral_storage is not None and resources.ephemeral_storage > max_storage:
        raise InvalidInput(
            f"The run requests {format_bytes(resources.ephemeral_storage)} of ephemeral storage, but Kubeflow runs "
            f"may request at most {format_bytes(max_storage)}: request less."
        )
    if max_gpus is not None and resources.gpu_count > max_gpus:
        raise InvalidInput(
            f"The run requests {resources.gpu_count} GPU(s), but Kubeflow runs may request at most {max_gpus} "
            "(OPERATORFLOW_KUBEFLOW_CONTAINER_MAX_GPUS): request fewer."
        )
    for name, location in (("input", spec.input), ("output", output_location)):
        if location and "://" not in location:
            raise InvalidInput(
                f"The {name} location {location} is a local path, which the cluster's pods cannot read or write: "
                f"give an object-store location such as s3://bucket/prefix."
            )


RESOURCE_CHECKS: dict[str, ResourceCheck] = {
    LOCAL_ENGINE: check_local_resources,
    KUBEFLOW_ENGINE: check_kubeflow_resources,
}
