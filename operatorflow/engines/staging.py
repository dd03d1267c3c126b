"""Staging of object-store locations for engines that can only read and write local files.

Local Spark and kfp's local runner have no S3 connector here (PySpark's pip package ships no
hadoop-aws jars), so a runner downloads `s3://` inputs to its run folder before it starts and uploads
its local output folder afterwards. Local paths pass through untouched.
"""

from __future__ import annotations

import logging
from pathlib import Path

from operatorflow.storage import ObjectStores

logger = logging.getLogger(__name__)


def stage_inputs(parameters: dict[str, str], stores: ObjectStores, staging_dir: Path) -> dict[str, str]:
    """Return `parameters` with every `s3://` value replaced by a local copy under `staging_dir`."""
    staged = dict(parameters)
    for name, value in parameters.items():
        if not value.startswith("s3://"):
            continue
        target_dir = staging_dir / name
        local = stores.for_location(value).download_prefix(value, target_dir)
        logger.info("Staged parameter %s from %s to %s", name, value, local)
        staged[name] = str(local)
    return staged


def local_output_dir(output_location: str, stores: ObjectStores, run_dir: Path) -> Path:
    """Return the local folder a runner writes to: the output location itself when it is local."""
    if output_location.startswith("s3://"):
        path = run_dir / "output"
    else:
        path = stores.local.path_of(output_location)
    path.mkdir(parents=True, exist_ok=True)
    return path


def publish_output(local_dir: Path, output_location: str, stores: ObjectStores) -> list[str]:
    """Upload `local_dir` to `output_location` when that is remote; return what was uploaded."""
    if not output_location.startswith("s3://"):
        return []
    written = stores.for_location(output_location).upload_folder(local_dir, output_location)
    logger.info("Uploaded %d output objects to %s", len(written), output_location)
    return written
