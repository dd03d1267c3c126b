"""Compile a container workflow into a one-step Kubeflow pipeline with the container's resources.

CPU, memory and GPUs are the task's requests and limits in the pipeline spec (kfp 2.17's
`set_cpu_request`/`set_cpu_limit`, `set_memory_request`/`set_memory_limit`,
`set_accelerator_type`/`set_accelerator_limit`). Requests equal limits.

NOTE: neither the kfp DSL nor kfp-kubernetes 2.17.3 can set a container's `ephemeral-storage`
request or limit (its KubernetesExecutorConfig has no resources field). The ephemeral storage of a
container workflow is therefore an emptyDir volume mounted at /scratch with that size as its
`sizeLimit` (`kfp.kubernetes.empty_dir_mount`): the kubelet evicts the pod when the volume grows
past it, but the scheduler reserves nothing for it, and the container's writable layer is not
counted against it. Workflows should write scratch data to SCRATCH_PATH.
"""

from __future__ import annotations

import logging
import re
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from operatorflow.containers.spec import ContainerSpec, container_spec_for_run, fill_placeholders
from operatorflow.workflows import Workflow

logger = logging.getLogger(__name__)

SCRATCH_MOUNT = "/scratch"
SCRATCH_VOLUME = "scratch"
TASK_NAME = "run-container"
_PIPELINE_NAME = re.compile(r"[^a-z0-9-]+")


def compile_container_pipeline(workflow: Workflow, parameters: dict[str, str], output_location: str = "") -> dict:
    """Return the pipeline of one container run as kfp's client submits it.

    The result is `{"pipeline_spec": {...}, "platform_spec": {...}}`, the two documents that
    kfp's compiler writes, as the `pipeline_spec` field of a `POST /apis/v2beta1/runs` request
    takes them. `{input}` and `{output}` in arguments and environment values become the input and
    output locations, and `{scratch}` becomes /scratch. Raises InvalidInput for an invalid container.
    """
    spec = container_spec_for_run(workflow, parameters)
    pipeline = build_pipeline(workflow.name, spec, output_location)
    return compile_to_dict(pipeline)


def build_pipeline(name: str, spec: ContainerSpec, output_location: str):
    """Return a kfp pipeline function with one task that runs `spec`."""
    from kfp import dsl, kubernetes

    paths = {"input": spec.input, "output": output_location, "scratch": SCRATCH_MOUNT}
    command = [fill_placeholders(word, paths) for word in spec.command]
    args = [fill_placeholders(word, paths) for word in spec.args]
    env = {key: fill_placeholders(value, paths) for key, value in spec.env.items()}
    env["OUTPUT_PATH"] = output_location
    env["SCRATCH_PATH"] = SCRATCH_MOUNT
    if spec.input:
        env["INPUT_PATH"] = spec.input

    def run_container():
        # kfp leaves out an empty command or argument list, so the image's own entrypoint or arguments apply.
        return dsl.ContainerSpec(image=spec.image, command=command or None, args=args or None)

    component = dsl.container_component(run_container)
    resources = spec.resources

    def pipeline():
        task = component()
        task.set_display_name(name)
        task.set_caching_options(False)
        if resources.cpu is not None:
            cpu = _cpu_quantity(resources.cpu)
            task.set_cpu_request(cpu).set_cpu_limit(cpu)
        if resources.memory is not None:
            memory = _byte_quantity(resources.memory)
            task.set_memory_request(memory).set_memory_limit(memory)
        if resources.gpu_count:
            task.set_accelerator_type(resources.gpu_type).set_accelerator_limit(resources.gpu_count)
        for key, value in env.items():
            task.set_env_variable(key, value)
        size = None if resources.ephemeral_storage is None else _byte_quantity(resources.ephemeral_storage)
        kubernetes.empty_dir_mount(task, volume_name=SCRATCH_VOLUME, mount_path=SCRATCH_MOUNT, size_limit=size)

    pipeline.__name__ = _PIPELINE_NAME.sub("-", name.lower()).strip("-") or "container"
    return dsl.pipeline(name=pipeline.__name__, description=f"Container workflow {name}: {spec.image}")(pipeline)


def compile_to_dict(pipeline) -> dict[str, Any]:
    """Compile a kfp pipeline; return its pipeline spec, paired with the platform spec when a task has Kubernetes settings."""
    from kfp import compiler

    with tempfile.TemporaryDirectory(prefix="operatorflow-kfp-") as folder:
        path = Path(folder) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline, package_path=str(path))
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    logger.info("kfp compiled container pipeline %s", documents[0].get("pipelineInfo", {}).get("name"))
    # The same shape as kfp.Client's `_PipelineDoc.to_dict` (kfp 2.17): the spec alone without a platform spec.
    if len(documents) == 1:
        return documents[0]
    return {"pipeline_spec": documents[0], "platform_spec": documents[1]}


def _cpu_quantity(cpu: Decimal) -> str:
    millicores = cpu * 1000
    if millicores == millicores.to_integral_value() and cpu != cpu.to_integral_value():
        return f"{int(millicores)}m"
    return f"{cpu.normalize():f}"


def _byte_quantity(count: int) -> str:
    for suffix, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)
