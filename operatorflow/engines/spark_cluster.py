"""The `spark-cluster` engine: the local notebook runner with its SparkSession on a self-hosted cluster."""

from __future__ import annotations

import logging
import sys

from operatorflow.engines.process import LocalProcessEngine
from operatorflow.engines.spark_local import RUNNER_MODULE
from operatorflow.errors import InvalidInput
from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

ENGINE_NAME = "spark-cluster"
STANDALONE_SCHEME = "spark://"
CONNECT_SCHEME = "sc://"
DRIVER_HOST = "127.0.0.1"
"""Address the driver binds to and gives executors to connect back to."""


def make_spark_cluster_engine(settings: Settings) -> LocalProcessEngine:
    """Build the engine that runs notebooks against `settings.spark_cluster_master`.

    The runner process stays on this machine and is the Spark driver. For a standalone master
    (`spark://host:port`) the executors run on the cluster's workers. For a Spark Connect server
    (`sc://host:port`) the server runs the whole query, and relative paths resolve on the server.
    Raises InvalidInput when the setting is empty or is neither kind of URL.
    """
    master = settings.spark_cluster_master.strip()
    scheme, _, address = master.partition("://")
    if f"{scheme}://" not in (STANDALONE_SCHEME, CONNECT_SCHEME) or not address:
        raise InvalidInput(
            f"Invalid OPERATORFLOW_SPARK_CLUSTER_MASTER {settings.spark_cluster_master!r}: use spark://host:port "
            "for a standalone master or sc://host:port for a Spark Connect server, or leave it empty to "
            "disable the spark-cluster engine."
        )

    spec_extras = {
        "spark_master": master,
        "spark_driver_memory": settings.spark_driver_memory,
        "s3_endpoint_url": settings.s3_endpoint_url,
    }
    if master.startswith(STANDALONE_SCHEME):
        # NOTE: executors must reach the driver at this address, so only workers on this machine
        # can run a job. A cluster on other hosts needs the driver host to be this machine's
        # address, which no setting chooses yet.
        spec_extras["spark_driver_host"] = DRIVER_HOST
    logger.debug("spark-cluster engine uses %s", master)
    return LocalProcessEngine(
        name=ENGINE_NAME,
        runner_module=RUNNER_MODULE,
        working_dir=settings.project_dir,
        env={
            "SPARK_LOCAL_IP": DRIVER_HOST,
            # Executors start this interpreter for Python code such as UDFs, so it must have the
            # same packages as the driver.
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        },
        spec_extras=spec_extras,
    )
