"""Container runs that the local machine cannot give what they request are rejected before queueing."""

from __future__ import annotations

import os

import pytest

from operatorflow.containers import limits
from operatorflow.errors import InvalidInput

USER = "ada"
IMAGE = "localhost/tool:1"


@pytest.fixture
def fake_podman(tmp_path, monkeypatch):
    """Put a `podman` on PATH: the checks only look for the command, and this keeps them independent of the machine."""
    folder = tmp_path / "bin"
    folder.mkdir()
    podman = folder / "podman"
    podman.write_text("#!/bin/sh\nexit 0\n")
    podman.chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    return podman


def submit(service, **requested):
    return service.submit_run(USER, "container-image", {"image": IMAGE, **requested})


def rejected(service, **requested) -> str:
    with pytest.raises(InvalidInput) as raised:
        submit(service, **requested)
    assert service.list_runs(USER) == []
    return str(raised.value)


def test_missing_runtime_is_rejected_before_queueing(service, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    message = rejected(service)

    assert message == "Local container runs need podman or Docker: install one (Debian: apt-get install podman runc)."
    assert service.list_engines("container-image") == ["local-container"]


def test_valid_request_is_queued_on_local_container(service, fake_podman):
    run = submit(service, cpu="1", memory="256Mi", args="true")

    assert run.engine == "local-container"
    assert run.kind == "container"
    assert run.parameters["memory"] == "256Mi"


def test_more_cpus_than_machine_is_rejected(service, fake_podman):
    cpus = os.cpu_count()

    message = rejected(service, cpu=str(cpus + 1))

    assert message == (
        f"The run requests {cpus + 1} CPUs, but this machine has {cpus}: request at most {cpus}, or run it on Kubeflow."
    )


def test_more_memory_than_machine_is_rejected(service, fake_podman, monkeypatch):
    monkeypatch.setattr(limits, "machine_memory_bytes", lambda: 2**30)

    message = rejected(service, memory="1536Mi")

    assert message == (
        "The run requests 1.5 GiB of memory, but this machine has 1 GiB: request less, or run it on Kubeflow."
    )


def test_gpu_without_gpu_is_rejected(service, fake_podman, monkeypatch):
    monkeypatch.setattr(limits, "machine_gpu_count", lambda: 0)

    message = rejected(service, gpu_count="1")

    assert message == "The run requests 1 GPU(s), but this machine has none: set gpu_count to 0, or run it on Kubeflow."


def test_more_gpus_than_machine_is_rejected(service, fake_podman, monkeypatch):
    monkeypatch.setattr(limits, "machine_gpu_count", lambda: 1)

    message = rejected(service, gpu_count="2")

    assert message == "The run requests 2 GPU(s), but this machine has only 1: set gpu_count to 0, or run it on Kubeflow."


def test_more_storage_than_free_disk_is_rejected(service, fake_podman, monkeypatch):
    monkeypatch.setattr(limits, "free_disk_bytes", lambda path: 2**30)

    message = rejected(service, ephemeral_storage="2Gi")

    assert message == (
        f"The run requests 2 GiB of ephemeral storage, but {service.settings.runs_dir} has 1 GiB free: "
        "request less or free some disk space."
    )


def test_missing_local_input_is_rejected(service, fake_podman):
    message = rejected(service, input="examples/no-such-folder")

    assert message == (
        f"The input location examples/no-such-folder does not exist in {service.settings.project_dir}: "
        "give an existing folder or file, or an s3:// location."
    )


def test_invalid_field_is_rejected_before_queueing(service, fake_podman):
    message = rejected(service, memory="lots")

    assert message == (
        "Invalid memory for container-image: 'lots' is not a Kubernetes quantity: use a number with an optional "
        "suffix, such as 500m or 2 for CPU and 512Mi or 4Gi for memory."
    )


def test_machine_memory_reads_meminfo():
    memory = limits.machine_memory_bytes()

    assert memory is not None
    assert memory % 1024 == 0
    assert memory > 0
