"""The local-container engine with real podman: input and output mounts, logs, failures, cancel and resources."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from operatorflow.containers.runner import container_name
from operatorflow.engines.base import EngineRun, EngineStatus
from operatorflow.engines.container_local import make_local_container_engine
from operatorflow.settings import PROJECT_DIR, Settings
from operatorflow.status import RunStatus
from operatorflow.workflows import Catalog

pytestmark = pytest.mark.container

RUN_TIMEOUT_SECONDS = 120


@pytest.fixture
def engine(tmp_path):
    return make_local_container_engine(Settings(home=tmp_path / "home", project_dir=PROJECT_DIR))


@pytest.fixture
def builtin(tmp_path):
    return Catalog(tmp_path / "catalog").get_workflow("container-image")


def start(engine, builtin, tmp_path, run_id: str, requested: dict[str, str]) -> tuple[str, EngineRun]:
    run = EngineRun(run_id=run_id, workflow=builtin, parameters=builtin.resolve_parameters(requested),
                    output_location=str(tmp_path / "output" / run_id), run_dir=tmp_path / "runs" / run_id)
    return engine.submit_run(run), run


def wait_for_end(engine, engine_run_id: str, run: EngineRun) -> EngineStatus:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status = engine.get_run_status(engine_run_id, run)
        if status.status.is_terminal:
            return status
        time.sleep(0.2)
    pytest.fail(f"run {run.run_id} did not end within {RUN_TIMEOUT_SECONDS} s; log:\n{read_log(run)}")


def read_log(run: EngineRun) -> str:
    return (run.run_dir / "run.log").read_text(errors="replace")


def container_exists(name: str) -> bool:
    return subprocess.run(["podman", "container", "exists", name], capture_output=True, check=False).returncode == 0


def test_container_reads_input_writes_output_and_logs(engine, builtin, busybox_image, tmp_path):
    source = tmp_path / "input"
    source.mkdir()
    (source / "words.txt").write_text("one\ntwo\nthree\n")

    engine_run_id, run = start(engine, builtin, tmp_path, "reads1", {
        "image": busybox_image,
        "command": "sh -c",
        "args": '"wc -l < {input}/words.txt > {output}/count.txt; echo counted $GREETING; ls $INPUT_PATH"',
        "env": "GREETING=lines",
        "input": str(source),
    })
    status = wait_for_end(engine, engine_run_id, run)

    log = read_log(run)
    assert status.status is RunStatus.SUCCEEDED, log
    assert (tmp_path / "output" / "reads1" / "count.txt").read_text().strip() == "3"
    assert "counted lines\nwords.txt\n" in log
    assert "--env 'GREETING=***' " in log
    assert json.loads(status.result) == {
        "image": busybox_image, "exit_code": 0, "output_location": run.output_location, "output_objects": 1,
    }
    assert not container_exists(container_name("reads1"))


def test_input_file_is_mounted_read_only(engine, builtin, busybox_image, tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b\n")

    engine_run_id, run = start(engine, builtin, tmp_path, "readonly1", {
        "image": busybox_image,
        "command": "sh -c",
        "args": '"cat {input} > $OUTPUT_PATH/copy.csv; echo $INPUT_PATH; echo x > {input} || echo write rejected"',
        "input": str(source),
    })
    status = wait_for_end(engine, engine_run_id, run)

    log = read_log(run)
    assert status.status is RunStatus.SUCCEEDED, log
    assert (tmp_path / "output" / "readonly1" / "copy.csv").read_text() == "a,b\n"
    assert "/mnt/input/data.csv\n" in log
    assert "write rejected" in log
    assert source.read_text() == "a,b\n"


def test_failing_container_reports_code_and_last_lines(engine, builtin, busybox_image, tmp_path):
    engine_run_id, run = start(engine, builtin, tmp_path, "fails1", {
        "image": busybox_image,
        "command": '["sh", "-c", "echo step one; echo boom >&2; exit 3"]',
    })
    status = wait_for_end(engine, engine_run_id, run)

    assert status.status is RunStatus.FAILED
    assert status.error_message == f"The container {busybox_image} exited with code 3. Last log lines:\nstep one\nboom"
    assert "Run fails1 ended FAILED" in read_log(run)


def test_missing_image_fails_with_runtime_message(engine, builtin, busybox_image, tmp_path):
    missing = "localhost/operatorflow-no-such-image:0"
    engine_run_id, run = start(engine, builtin, tmp_path, "noimage1", {"image": missing, "args": "true"})
    status = wait_for_end(engine, engine_run_id, run)

    assert status.status is RunStatus.FAILED
    assert status.error_message.startswith(f"The container {missing} exited with code 125. Code 125 means the "
                                           "container runtime itself failed")
    assert missing in status.error_message.split("Last log lines:\n", 1)[1]


def test_cancel_stops_the_container(engine, builtin, busybox_image, tmp_path):
    # busybox's sleep as PID 1 ignores SIGTERM, so only `podman stop` (which kills after its timeout) ends it.
    engine_run_id, run = start(engine, builtin, tmp_path, "cancel1", {
        "image": busybox_image, "command": "sleep", "args": "300",
    })
    name = container_name("cancel1")
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while not container_exists(name) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert container_exists(name), read_log(run)

    engine.cancel_run(engine_run_id, run)
    status = wait_for_end(engine, engine_run_id, run)

    assert status.status is RunStatus.CANCELED
    assert status.error_message == "Canceled by request."
    assert not container_exists(name)


def test_engine_after_restart_follows_running_container(engine, builtin, busybox_image, tmp_path):
    engine_run_id, run = start(engine, builtin, tmp_path, "restart1", {
        "image": busybox_image, "command": "sh -c", "args": '"sleep 5; echo done > {output}/done.txt"',
    })
    # Wait for the container, so the runner has replaced the forked test process: until then its
    # /proc command line is not the runner's, and an engine without the child object finds no runner.
    name = container_name("restart1")
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while not container_exists(name) and time.monotonic() < deadline:
        time.sleep(0.1)
    # A worker that starts after an app restart builds a new engine, which follows the run by its process id alone.
    restarted = make_local_container_engine(Settings(home=tmp_path / "home", project_dir=PROJECT_DIR))

    first = restarted.get_run_status(engine_run_id, run)
    status = wait_for_end(restarted, engine_run_id, run)

    assert first.status is RunStatus.RUNNING
    assert status.status is RunStatus.SUCCEEDED, read_log(run)
    assert (tmp_path / "output" / "restart1" / "done.txt").read_text() == "done\n"


def test_resources_reach_the_container_cgroup(engine, builtin, busybox_image, tmp_path):
    # cgroup v2 names the files cpu.max and memory.max; v1 has one folder per controller.
    script = (
        "(cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us "
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us)) > {output}/cpu; "
        "(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes) > {output}/memory"
    )
    engine_run_id, run = start(engine, builtin, tmp_path, "limits1", {
        "image": busybox_image, "command": "sh -c", "args": json.dumps([script]), "cpu": "500m", "memory": "64Mi",
    })
    status = wait_for_end(engine, engine_run_id, run)

    output = tmp_path / "output" / "limits1"
    assert status.status is RunStatus.SUCCEEDED, read_log(run)
    quota, period = (int(word) for word in (output / "cpu").read_text().split())
    assert quota / period == 0.5
    assert int((output / "memory").read_text()) == 64 * 2**20
    assert "--cpus 0.5 --memory 67108864b" in read_log(run)


def test_s3_input_and_output_are_staged(engine_factory_s3, builtin, busybox_image, tmp_path):
    engine, s3 = engine_factory_s3
    s3.put_object(Bucket="data", Key="in/words.txt", Body=b"a\nb\n")

    run = EngineRun(run_id="s3run1", workflow=builtin, parameters=builtin.resolve_parameters({
        "image": busybox_image, "command": "sh -c", "args": '"wc -l < {input}/words.txt > {output}/count.txt"',
        "input": "s3://data/in",
    }), output_location="s3://data/out/s3run1", run_dir=tmp_path / "runs" / "s3run1")
    status = wait_for_end(engine, engine.submit_run(run), run)

    assert status.status is RunStatus.SUCCEEDED, read_log(run)
    assert s3.get_object(Bucket="data", Key="out/s3run1/count.txt")["Body"].read().strip() == b"2"


@pytest.fixture
def engine_factory_s3(tmp_path):
    from tests.aws import MotoServer

    server = MotoServer().start()
    try:
        s3 = server.client("s3")
        s3.create_bucket(Bucket="data")
        settings = Settings(home=tmp_path / "home", project_dir=PROJECT_DIR, s3_endpoint_url=server.endpoint_url)
        yield make_local_container_engine(settings), s3
    finally:
        server.stop()


def test_cli_runs_container_image_to_the_end(busybox_image, tmp_path, monkeypatch, capsys):
    from operatorflow import cli

    monkeypatch.setenv("OPERATORFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPERATORFLOW_POLL_SECONDS", "0.1")
    output = tmp_path / "cli-output" / "{run_id}"

    code = cli.main([
        "run", "container-image", "--param", f"image={busybox_image}", "--param", "command=sh -c",
        "--param", 'args="echo from the container; echo done > {output}/done.txt"', "--param", "cpu=1",
        "--output", str(output), "--wait", "--json", "--timeout", str(RUN_TIMEOUT_SECONDS),
    ])

    finished = json.loads(capsys.readouterr().out)
    assert code == 0, finished
    assert finished["status"] == "SUCCEEDED"
    assert finished["engine"] == "local-container"
    assert (tmp_path / "cli-output" / finished["id"] / "done.txt").read_text() == "done\n"
    assert "\nfrom the container\n" in (tmp_path / "cli-output" / finished["id"] / "logs" / "run.log").read_text()
