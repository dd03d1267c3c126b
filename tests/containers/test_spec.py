"""Container workflows: catalog files, the built-in container-image workflow and a run's container."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from operatorflow.containers.spec import (
    BUILTIN_NAME,
    ContainerSpec,
    Resources,
    container_spec_for_run,
    fill_placeholders,
    parse_env_lines,
    parse_words,
)
from operatorflow.errors import InvalidInput
from operatorflow.workflows import Catalog, WorkflowKind

GOOD_FILE = """\
description: Count the lines of the input files.
image: registry.example.com/tools/wc:1.0
command: [sh, -c]
args: ["grep -c {pattern} {input}/* > {output}/counts.txt; awk '{print $1}' /dev/null"]
env:
  GREETING: hello {pattern}
  RETRIES: 3
input: examples/data
resources: {cpu: 500m, memory: 512Mi, ephemeral_storage: 1Gi}
parameters:
  pattern: {default: error, label: Text to look for}
"""


def write_catalog(tmp_path: Path, files: dict[str, str]) -> Catalog:
    folder = tmp_path / "catalog" / "containers"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return Catalog(tmp_path / "catalog")


def test_catalog_lists_builtin_and_file_workflows(tmp_path):
    catalog = write_catalog(tmp_path, {"line_count.yaml": GOOD_FILE})

    workflows = catalog.list_workflows(WorkflowKind.CONTAINER)

    assert [w.name for w in workflows] == [BUILTIN_NAME, "line-count"]
    assert {w.engine for w in workflows} == {"local-container"}
    line_count = workflows[1]
    assert line_count.description == "Count the lines of the input files."
    assert [(p.name, p.default) for p in line_count.parameters] == [
        ("input", "examples/data"),
        ("cpu", "0.5"),
        ("memory", "512Mi"),
        ("ephemeral_storage", "1Gi"),
        ("gpu_count", "0"),
        ("gpu_type", "nvidia.com/gpu"),
        ("pattern", "error"),
    ]


def test_builtin_workflow_parameters_cover_the_container(tmp_path):
    catalog = write_catalog(tmp_path, {})

    workflow = catalog.get_workflow(BUILTIN_NAME)

    assert workflow.kind is WorkflowKind.CONTAINER
    assert workflow.parameter_names() == [
        "image", "command", "args", "env", "input", "cpu", "memory", "ephemeral_storage", "gpu_count", "gpu_type",
    ]


def test_file_spec_fills_declared_parameters_only(tmp_path):
    catalog = write_catalog(tmp_path, {"line_count.yaml": GOOD_FILE})
    workflow = catalog.get_workflow("line-count")

    spec = container_spec_for_run(workflow, workflow.resolve_parameters({"pattern": "WARN", "memory": "1Gi"}))

    assert spec == ContainerSpec(
        image="registry.example.com/tools/wc:1.0",
        command=("sh", "-c"),
        args=("grep -c WARN {input}/* > {output}/counts.txt; awk '{print $1}' /dev/null",),
        env={"GREETING": "hello WARN", "RETRIES": "3"},
        input="examples/data",
        resources=Resources(cpu=Decimal("0.5"), memory=2**30, ephemeral_storage=2**30),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image: [a, b]\n", "bad.yaml: field image: expected text or a number, got list."),
        ("command: [sh]\n", "bad.yaml: field image: missing: give an image name, such as registry.example.com/team/tool:1.0."),
        ("image: tool\nresources: {memory: 4GB}\n",
         "bad.yaml: field resources.memory: '4GB' is not a Kubernetes quantity: use a number with an optional "
         "suffix, such as 500m or 2 for CPU and 512Mi or 4Gi for memory."),
        ("image: tool\nresources: {memory: 17Gi}\n",
         "bad.yaml: field resources.memory: 17Gi (17 GiB) is more than the maximum of 16 GiB."),
        ("image: tool\nresources: {ephemeral_storage: 33Gi}\n",
         "bad.yaml: field resources.ephemeral_storage: 33Gi (33 GiB) is more than the maximum of 32 GiB."),
        ("image: tool\nresources: {cpu: 0}\n", "bad.yaml: field resources.cpu: must be more than 0, such as 500m or 2."),
        ("image: tool\nresources: {gpus: 1}\n",
         "bad.yaml: field resources: unknown key(s) gpus; known keys: cpu, memory, ephemeral_storage, gpu_count, gpu_type."),
        ("image: tool\nresources: {gpu_count: -1}\n", "bad.yaml: field resources.gpu_count: -1 is negative; use 0 for no GPU."),
        ("image: tool\nmemory: 1Gi\n",
         "bad.yaml: unknown field(s) memory; known fields: description, image, command, args, env, input, resources, parameters."),
        ("image: tool\nenv: {1X: a}\n",
         "bad.yaml: field env.1X: a variable name must be letters, digits and _, not starting with a digit."),
        ("image: tool\nenv: {OUTPUT_PATH: /x}\n",
         "bad.yaml: field env.OUTPUT_PATH: OUTPUT_PATH is set by the engine to the mounted path; use another name."),
        ("image: tool\nargs: ['cat {input}']\n",
         "bad.yaml: field input: the arguments or environment use {input}, but no input location is given."),
        ("image: tool\nparameters: {cpu: 1}\n",
         "bad.yaml: field parameters.cpu: the name cpu is taken by the built-in parameter of that name."),
        ("image: tool\nargs: 'sh -c \"echo'\n",
         "bad.yaml: field args: cannot split 'sh -c \"echo' into words (No closing quotation); "
         "close the quotes or give a JSON list."),
        ("- image\n", "bad.yaml: expected a mapping with at least an `image` field at the top level."),
        ("image: [\n", "bad.yaml: invalid YAML at line 2: expected the node content, but found '<stream end>'. Fix the file's syntax."),
    ],
)
def test_invalid_file_is_listed_as_problem(tmp_path, text, message):
    catalog = write_catalog(tmp_path, {"bad.yaml": text, "line_count.yaml": GOOD_FILE})

    names = [w.name for w in catalog.list_workflows(WorkflowKind.CONTAINER)]
    problems = catalog.list_problems(WorkflowKind.CONTAINER)

    assert names == [BUILTIN_NAME, "line-count"]
    assert problems == [("bad", message)]
    assert catalog.list_problems(WorkflowKind.PIPELINE) == []


def test_builtin_spec_reads_words_env_and_resources(tmp_path):
    workflow = write_catalog(tmp_path, {}).get_workflow(BUILTIN_NAME)
    parameters = workflow.resolve_parameters({
        "image": "localhost/tool:1",
        "command": "sh -c",
        "args": '"echo $GREETING > {output}/x"',
        "env": "GREETING=hi there\n\n# comment\nEMPTY=",
        "cpu": "1500m",
        "memory": "256Mi",
        "gpu_count": "1",
        "gpu_type": "amd.com/gpu",
    })

    spec = container_spec_for_run(workflow, parameters)

    assert spec.image == "localhost/tool:1"
    assert spec.command == ("sh", "-c")
    assert spec.args == ("echo $GREETING > {output}/x",)
    assert spec.env == {"GREETING": "hi there", "EMPTY": ""}
    assert spec.resources == Resources(cpu=Decimal("1.5"), memory=256 * 2**20, gpu_count=1, gpu_type="amd.com/gpu")


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ({}, "Invalid image for container-image: missing: give an image name, such as registry.example.com/team/tool:1.0."),
        ({"image": "a b"}, "Invalid image for container-image: 'a b' contains white space, which no image name has."),
        ({"image": "t", "env": "NOEQUALS"},
         "Invalid env for container-image: line 1 ('NOEQUALS') has no '=': write KEY=VALUE."),
        ({"image": "t", "args": '["a", 1]'},
         'Invalid args for container-image: a list must contain only strings, such as ["sh", "-c", "echo hi"].'),
    ],
)
def test_builtin_spec_rejects_bad_fields(tmp_path, requested, message):
    workflow = write_catalog(tmp_path, {}).get_workflow(BUILTIN_NAME)

    with pytest.raises(InvalidInput) as raised:
        container_spec_for_run(workflow, workflow.resolve_parameters(requested))

    assert str(raised.value) == message


def test_builtin_spec_rejects_fractional_memory(tmp_path):
    workflow = write_catalog(tmp_path, {}).get_workflow(BUILTIN_NAME)

    with pytest.raises(InvalidInput) as raised:
        container_spec_for_run(workflow, workflow.resolve_parameters({"image": "t", "memory": "500m"}))

    assert str(raised.value) == (
        "Invalid memory for container-image: '500m' is not a whole number of bytes above 0; "
        "use a size such as 512Mi or 4Gi."
    )


def test_gpu_count_must_be_whole_number(tmp_path):
    workflow = write_catalog(tmp_path, {}).get_workflow(BUILTIN_NAME)

    with pytest.raises(InvalidInput) as raised:
        workflow.resolve_parameters({"image": "t", "gpu_count": "one"})

    assert str(raised.value) == "Invalid value 'one' for gpu_count: expected a whole number, such as 42."


def test_parse_words_takes_json_or_shell_words():
    assert parse_words('["sh", "-c", "echo hi"]') == ("sh", "-c", "echo hi")
    assert parse_words("sh -c 'echo hi'") == ("sh", "-c", "echo hi")
    assert parse_words("   ") == ()


def test_parse_env_lines_keeps_equals_in_values():
    assert parse_env_lines("URL=http://x/?a=b\n  B = c") == {"URL": "http://x/?a=b", "B": " c"}


def test_fill_placeholders_leaves_unknown_braces():
    text = "awk '{print $1}' {input}/a > {output}/b ${HOME} {scratch}"

    filled = fill_placeholders(text, {"input": "/mnt/input", "output": "/mnt/output"})

    assert filled == "awk '{print $1}' /mnt/input/a > /mnt/output/b ${HOME} {scratch}"
