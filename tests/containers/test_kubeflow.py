"""Compiling container workflows into one-step Kubeflow pipelines, and the Kubeflow resource checks."""

from __future__ import annotations

import dataclasses

import pytest
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from operatorflow.containers.kubeflow import compile_container_pipeline
from operatorflow.containers.limits import check_kubeflow_resources
from operatorflow.containers.spec import BUILTIN_NAME, container_spec_for_run
from operatorflow.errors import InvalidInput
from operatorflow.settings import Settings
from operatorflow.workflows import Catalog

EXECUTOR = "exec-run-container"


@pytest.fixture
def builtin(tmp_path):
    return Catalog(tmp_path).get_workflow(BUILTIN_NAME)


def compile_builtin(workflow, requested, output="s3://bucket/out/run1"):
    return compile_container_pipeline(workflow, workflow.resolve_parameters(requested), output)


def test_compiled_pipeline_carries_container_and_resources(builtin):
    compiled = compile_builtin(builtin, {
        "image": "registry.example.com/team/tool:1.0",
        "command": "sh -c",
        "args": '"wc -l {input}/a > {output}/b"',
        "env": "MODE=fast\nTMP_DIR={scratch}",
        "input": "s3://bucket/in",
        "cpu": "1500m",
        "memory": "4Gi",
        "ephemeral_storage": "10Gi",
        "gpu_count": "2",
        "gpu_type": "nvidia.com/gpu",
    })

    container = compiled["pipeline_spec"]["deploymentSpec"]["executors"][EXECUTOR]["container"]
    assert container["image"] == "registry.example.com/team/tool:1.0"
    assert container["command"] == ["sh", "-c"]
    assert container["args"] == ["wc -l s3://bucket/in/a > s3://bucket/out/run1/b"]
    assert container["env"] == [
        {"name": "MODE", "value": "fast"},
        {"name": "TMP_DIR", "value": "/scratch"},
        {"name": "OUTPUT_PATH", "value": "s3://bucket/out/run1"},
        {"name": "SCRATCH_PATH", "value": "/scratch"},
        {"name": "INPUT_PATH", "value": "s3://bucket/in"},
    ]
    resources = container["resources"]
    assert resources["resourceCpuRequest"] == "1500m"
    assert resources["resourceCpuLimit"] == "1500m"
    assert resources["resourceMemoryRequest"] == "4Gi"
    assert resources["resourceMemoryLimit"] == "4Gi"
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert resources["accelerator"]["resourceCount"] == "2"
    kubernetes = compiled["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"][EXECUTOR]
    assert kubernetes == {"emptyDirMounts": [{"volumeName": "scratch", "mountPath": "/scratch", "sizeLimit": "10Gi"}]}


def test_compiled_pipeline_is_valid_ir(builtin):
    compiled = compile_builtin(builtin, {"image": "tool:1", "cpu": "2", "memory": "512Mi"})

    spec = json_format.ParseDict(compiled["pipeline_spec"], pipeline_spec_pb2.PipelineSpec())
    platform = json_format.ParseDict(compiled["platform_spec"], pipeline_spec_pb2.PlatformSpec())

    assert spec.pipeline_info.name == "container-image"
    assert list(spec.root.dag.tasks) == ["run-container"]
    assert spec.root.dag.tasks["run-container"].caching_options.enable_cache is False
    assert "kubernetes" in platform.platforms
    executor = compiled["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"][EXECUTOR]
    config = json_format.ParseDict(executor, kubernetes_executor_config_pb2.KubernetesExecutorConfig())
    assert [mount.mount_path for mount in config.empty_dir_mounts] == ["/scratch"]
    resources = spec.deployment_spec["executors"][EXECUTOR]["container"]["resources"]
    assert resources["resourceCpuLimit"] == "2"
    assert resources["resourceMemoryLimit"] == "512Mi"


def test_compiled_pipeline_without_resources_keeps_image_defaults(builtin):
    compiled = compile_builtin(builtin, {"image": "tool:1"})

    container = compiled["pipeline_spec"]["deploymentSpec"]["executors"][EXECUTOR]["container"]
    assert "command" not in container
    assert "args" not in container
    assert "resources" not in container
    kubernetes = compiled["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"][EXECUTOR]
    assert kubernetes == {"emptyDirMounts": [{"volumeName": "scratch", "mountPath": "/scratch"}]}


def test_compile_rejects_invalid_container(builtin):
    with pytest.raises(InvalidInput) as raised:
        compile_builtin(builtin, {"image": "tool:1", "memory": "20Gi"})

    assert str(raised.value) == "Invalid memory for container-image: 20Gi (20 GiB) is more than the maximum of 16 GiB."


def kubeflow_check(builtin, requested, settings=None, output="s3://bucket/out"):
    spec = container_spec_for_run(builtin, builtin.resolve_parameters({"image": "tool:1", **requested}))
    check_kubeflow_resources(settings or Settings(), spec, output)


@pytest.mark.parametrize(
    ("requested", "limits", "message"),
    [
        ({"memory": "8Gi"}, {"kubeflow_container_max_memory": "4Gi"},
         "The run requests 8 GiB of memory, but Kubeflow runs may request at most 4 GiB: request less."),
        ({"memory": "16Gi"}, {"kubeflow_container_max_memory": "64Gi"}, None),
        ({"ephemeral_storage": "20Gi"}, {"kubeflow_container_max_ephemeral_storage": "10Gi"},
         "The run requests 20 GiB of ephemeral storage, but Kubeflow runs may request at most 10 GiB: request less."),
        ({"cpu": "9"}, {"kubeflow_container_max_cpu": "8"},
         "The run requests 9 CPUs, but Kubeflow runs may request at most 8 (OPERATORFLOW_KUBEFLOW_CONTAINER_MAX_CPU): "
         "request less."),
        ({"cpu": "7500m"}, {"kubeflow_container_max_cpu": "8"}, None),
        ({"gpu_count": "2"}, {"kubeflow_container_max_gpus": "1"},
         "The run requests 2 GPU(s), but Kubeflow runs may request at most 1 (OPERATORFLOW_KUBEFLOW_CONTAINER_MAX_GPUS): "
         "request fewer."),
        ({"gpu_count": "4"}, {}, None),
        ({"input": "examples/data"}, {},
         "The input location examples/data is a local path, which the cluster's pods cannot read or write: "
         "give an object-store location such as s3://bucket/prefix."),
    ],
)
def test_kubeflow_check_names_the_limit(builtin, requested, limits, message):
    settings = dataclasses.replace(Settings(), **limits)

    if message is None:
        kubeflow_check(builtin, requested, settings)
        return
    with pytest.raises(InvalidInput) as raised:
        kubeflow_check(builtin, requested, settings)

    assert str(raised.value) == message


def test_kubeflow_check_rejects_local_output(builtin):
    with pytest.raises(InvalidInput) as raised:
        kubeflow_check(builtin, {}, output="/srv/out")

    assert str(raised.value) == (
        "The output location /srv/out is a local path, which the cluster's pods cannot read or write: "
        "give an object-store location such as s3://bucket/prefix."
    )


def test_kubeflow_check_reports_bad_setting(builtin):
    settings = dataclasses.replace(Settings(), kubeflow_container_max_memory="lots")

    with pytest.raises(InvalidInput) as raised:
        kubeflow_check(builtin, {"memory": "1Gi"}, settings)

    assert str(raised.value) == (
        "Invalid OPERATORFLOW_KUBEFLOW_CONTAINER_MAX_MEMORY='lots': 'lots' is not a Kubernetes quantity: "
        "use a number with an optional suffix, such as 500m or 2 for CPU and 512Mi or 4Gi for memory."
    )
