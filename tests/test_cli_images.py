"""`operatorflow images`: build, push and list with the fake builder, output streamed, exit codes."""

from __future__ import annotations

import json
import uuid

import pytest

from operatorflow import cli
from tests.images import fakes
from tests.images.conftest import FAKE_BUILDER, REGISTRY_PASSWORD, REGISTRY_USER, SAMPLE_CONTEXT
from tests.images.conftest import registry_server  # noqa: F401 - the fixture, for this module outside tests/images


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("OPERATORFLOW_HOME", str(home))
    monkeypatch.setenv("OPERATORFLOW_IMAGE_BUILDER", FAKE_BUILDER)
    return home


@pytest.fixture
def registry_env(home, registry_server, monkeypatch):
    url = f"{registry_server.host}/cli{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("OPERATORFLOW_REGISTRY_URL", url)
    monkeypatch.setenv("OPERATORFLOW_REGISTRY_USERNAME", REGISTRY_USER)
    monkeypatch.setenv("OPERATORFLOW_REGISTRY_PASSWORD", REGISTRY_PASSWORD)
    return url


def test_build_push_list_round_trip(registry_env, capsys):
    build_code = cli.main(["images", "build", str(SAMPLE_CONTEXT), "--tag", "sample:1.0",
                           "--build-arg", "GREETING=hi"])
    build_out = capsys.readouterr().out
    push_code = cli.main(["images", "push", "sample:1.0"])
    push_out = capsys.readouterr().out
    list_code = cli.main(["images", "list", "--json"])
    listed = json.loads(capsys.readouterr().out)

    reference = f"{registry_env}/sample:1.0"
    assert (build_code, push_code, list_code) == (0, 0, 0)
    assert build_out.splitlines()[-3:] == ["build argument GREETING=hi", f"Successfully tagged {reference}",
                                           f"Built {reference}."]
    assert push_out.splitlines()[-1] == f"Pushed {reference}."
    assert REGISTRY_PASSWORD not in push_out
    assert listed == [reference]


def test_failed_build_exits_1(home, capsys):
    code = cli.main(["images", "build", str(SAMPLE_CONTEXT), "--tag", "sample:1.0",
                     "--build-arg", f"{fakes.FAILING_BUILD_ARG}=1"])

    captured = capsys.readouterr()
    assert code == 1
    assert "error: the build failed on purpose" in captured.out.splitlines()
    assert captured.err == ("error: fake-builder build of localhost/sample:1.0 failed with exit status 1; "
                            "the build log shows why.\n")


def test_invalid_tag_exits_2(home, capsys):
    code = cli.main(["images", "build", str(SAMPLE_CONTEXT), "--tag", "Sample"])

    assert code == 2
    assert capsys.readouterr().err == (
        "error: Invalid image name 'Sample' in 'Sample': use lowercase letters, digits and the separators "
        ". _ - between them, with / between path parts, for example team/sample:1.0.\n"
    )


def test_bad_build_arg_exits_2(home, capsys):
    code = cli.main(["images", "build", str(SAMPLE_CONTEXT), "--tag", "sample", "--build-arg", "NOVALUE"])

    assert code == 2
    assert "Invalid build argument 'NOVALUE': write it as KEY=VALUE" in capsys.readouterr().err


def test_push_without_registry_exits_2(home, capsys):
    code = cli.main(["images", "push", "sample:1.0"])

    assert code == 2
    assert capsys.readouterr().err.startswith("error: No registry is set: set OPERATORFLOW_REGISTRY_URL")


def test_list_without_registry_explains(home, capsys):
    code = cli.main(["images", "list"])

    assert code == 0
    assert capsys.readouterr().out == "No registry is set: set OPERATORFLOW_REGISTRY_URL to list pushed images.\n"


def test_list_unreachable_registry_exits_3(home, monkeypatch, capsys):
    from tests.aws import free_port

    monkeypatch.setenv("OPERATORFLOW_REGISTRY_URL", f"127.0.0.1:{free_port()}/team")

    code = cli.main(["images", "list", "--json"])

    captured = capsys.readouterr()
    assert code == 3
    assert json.loads(captured.out)["error"]["type"] == "BackendUnavailable"
