"""KubeFlow page, "Run a container image": the form, queueing a run, rejected requests and a finished run."""

from __future__ import annotations

from pathlib import Path

import pytest

from operatorflow import ui_containers
from operatorflow.status import RunStatus
from tests.pages.conftest import USER, errors, finish_run, open_page, run

BUILTIN = "container-image"
KEY = "kubeflow_container"
RUN_BUTTON = f"FormSubmitter:{KEY}_run_form-Run container"
IMAGE = "localhost/tool:1"


@pytest.fixture
def fake_podman(tmp_path, monkeypatch):
    """A `podman` on PATH, so submission passes the runtime check; no test here starts a container."""
    folder = tmp_path / "bin"
    folder.mkdir()
    podman = folder / "podman"
    podman.write_text("#!/bin/sh\nexit 0\n")
    podman.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    return podman


def field(at, name: str, workflow: str = BUILTIN):
    return at.text_input(key=f"{KEY}_param_{workflow}_{name}")


def test_section_offers_builtin_and_catalog_workflows(signed_in_app, service):
    open_page(signed_in_app, "kubeflow")

    assert signed_in_app.selectbox(key=f"{KEY}_workflow").options == [BUILTIN, "line-count"]
    assert field(signed_in_app, "image").value == ""
    assert field(signed_in_app, "gpu_count").value == "0"
    assert signed_in_app.selectbox(key=f"{KEY}_engine_{BUILTIN}").options == ["local-container"]
    assert signed_in_app.text_input(key=f"{KEY}_output_{BUILTIN}").value == service.default_output_location(BUILTIN)


def test_run_container_queues_with_fields(signed_in_app, service, fake_podman, tmp_path):
    open_page(signed_in_app, "kubeflow")
    field(signed_in_app, "image").set_value(IMAGE)
    field(signed_in_app, "command").set_value("sh -c")
    signed_in_app.text_area(key=f"{KEY}_param_{BUILTIN}_args").set_value('"ls {input} > {output}/files.txt"')
    signed_in_app.text_area(key=f"{KEY}_param_{BUILTIN}_env").set_value("MODE=fast\nLEVEL=2")
    field(signed_in_app, "input").set_value("examples/data")
    field(signed_in_app, "cpu").set_value("500m")
    field(signed_in_app, "memory").set_value("256Mi")
    signed_in_app.text_input(key=f"{KEY}_output_{BUILTIN}").set_value(str(tmp_path / "out" / "{run_id}"))

    signed_in_app.button(key=RUN_BUTTON).click()
    run(signed_in_app)

    [queued] = service.list_runs(USER)
    assert queued.workflow == BUILTIN
    assert queued.engine == "local-container"
    assert queued.parameters == {
        "image": IMAGE, "command": "sh -c", "args": '"ls {input} > {output}/files.txt"', "env": "MODE=fast\nLEVEL=2",
        "input": "examples/data", "cpu": "500m", "memory": "256Mi", "ephemeral_storage": "", "gpu_count": "0",
        "gpu_type": "nvidia.com/gpu",
    }
    assert queued.output_location == str(tmp_path / "out" / queued.id)
    assert [s.value for s in signed_in_app.success] == [
        f"Run {queued.id} of {BUILTIN} is queued on local-container; its outputs go to {queued.output_location}."
    ]


def test_missing_runtime_shows_install_hint(signed_in_app, service, tmp_path, monkeypatch):
    open_page(signed_in_app, "kubeflow")
    field(signed_in_app, "image").set_value(IMAGE)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    signed_in_app.button(key=RUN_BUTTON).click()
    run(signed_in_app)

    assert errors(signed_in_app) == [
        "Local container runs need podman or Docker: install one (Debian: apt-get install podman runc)."
    ]
    assert service.list_runs(USER) == []


def test_request_beyond_machine_names_the_limit(signed_in_app, service, fake_podman):
    open_page(signed_in_app, "kubeflow")
    field(signed_in_app, "image").set_value(IMAGE)
    field(signed_in_app, "memory").set_value("17Gi")

    signed_in_app.button(key=RUN_BUTTON).click()
    run(signed_in_app)

    assert errors(signed_in_app) == [
        "Invalid memory for container-image: 17Gi (17 GiB) is more than the maximum of 16 GiB."
    ]
    assert service.list_runs(USER) == []


def test_catalog_workflow_shows_its_parameters(signed_in_app, service, fake_podman):
    open_page(signed_in_app, "kubeflow")
    signed_in_app.selectbox(key=f"{KEY}_workflow").set_value("line-count")
    run(signed_in_app)
    field(signed_in_app, "pattern", "line-count").set_value("JULIET")

    signed_in_app.button(key=RUN_BUTTON).click()
    run(signed_in_app)

    assert field(signed_in_app, "input", "line-count").value == "examples/data"
    assert field(signed_in_app, "memory", "line-count").value == "256Mi"
    [queued] = service.list_runs(USER)
    assert queued.workflow == "line-count"
    assert queued.parameters["pattern"] == "JULIET"
    assert queued.parameters["cpu"] == "0.5"


def test_pushed_images_are_offered(signed_in_app, monkeypatch):
    monkeypatch.setattr(ui_containers, "list_images", lambda service: ["registry.local/a:1", "registry.local/b:2"])

    open_page(signed_in_app, "kubeflow")

    picker = signed_in_app.selectbox(key=f"{KEY}_param_{BUILTIN}_image")
    assert picker.options == ["registry.local/a:1", "registry.local/b:2"]
    assert picker.value is None


def test_succeeded_container_run_shows_exit_code_and_objects(signed_in_app, service, fake_podman):
    submitted = service.submit_run(USER, BUILTIN, {"image": IMAGE})
    output = Path(submitted.output_location)
    output.mkdir(parents=True)
    (output / "files.txt").write_text("a\n")
    finish_run(service, submitted.id, RunStatus.SUCCEEDED, log="from the container\n",
               result={"image": IMAGE, "exit_code": 0, "output_location": str(output), "output_objects": 1})

    open_page(signed_in_app, "kubeflow")

    assert f"Image {IMAGE} exited with code 0." in [c.value for c in signed_in_app.caption]
    objects = signed_in_app.dataframe[-1].value
    assert objects["object"].tolist() == ["files.txt"]
    assert errors(signed_in_app) == []


def test_failed_container_run_shows_last_lines(signed_in_app, service, fake_podman):
    submitted = service.submit_run(USER, BUILTIN, {"image": IMAGE})
    message = f"The container {IMAGE} exited with code 3. Last log lines:\nboom"
    finish_run(service, submitted.id, RunStatus.FAILED, error_message=message)

    open_page(signed_in_app, "kubeflow")

    assert errors(signed_in_app) == [f"Run {submitted.id} failed: {message}"]
