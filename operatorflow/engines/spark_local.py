"""The `local-spark` engine: each notebook run is a child process with its own local SparkSession."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from operatorflow.engines.process import LocalProcessEngine
from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

ENGINE_NAME = "local-spark"
RUNNER_MODULE = "operatorflow.notebooks.runner"
MIN_JAVA_VERSION = 17
"""PySpark 4 needs Java 17 or newer."""

_JAVA_FIX = "Install Java 17 or newer: apt-get install openjdk-17-jre-headless, or set JAVA_HOME to a Java 17+ installation."
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def make_local_spark_engine(settings: Settings) -> LocalProcessEngine:
    """Build the engine that runs notebooks with `operatorflow.notebooks.runner` in the project folder."""
    return LocalProcessEngine(
        name=ENGINE_NAME,
        runner_module=RUNNER_MODULE,
        working_dir=settings.project_dir,
        env={
            # Without it Spark binds to the machine's external interface.
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        },
        spec_extras={
            "spark_master": settings.spark_master,
            "spark_driver_memory": settings.spark_driver_memory,
            "s3_endpoint_url": settings.s3_endpoint_url,
        },
    )


def check_java() -> str | None:
    """Return what to install when Java is missing or older than 17, or None when it is usable."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        # PySpark starts `$JAVA_HOME/bin/java` when JAVA_HOME is set, and the one on PATH otherwise.
        java = str(Path(java_home) / "bin" / "java")
        if not Path(java).is_file():
            return f"JAVA_HOME is {java_home}, but {java} does not exist. {_JAVA_FIX}"
    else:
        java = shutil.which("java")
        if java is None:
            return f"Java was not found on PATH, and local Spark runs need it. {_JAVA_FIX}"

    try:
        completed = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Running {java} -version failed ({exc}), and local Spark runs need Java. {_JAVA_FIX}"

    # `java -version` writes to standard error.
    output = completed.stderr + completed.stdout
    match = _VERSION.search(output)
    if completed.returncode != 0 or match is None:
        first_line = output.strip().splitlines()[0] if output.strip() else f"exit code {completed.returncode}"
        return f"Could not read the Java version from {java} -version ({first_line}). {_JAVA_FIX}"

    major = int(match.group(1))
    if major == 1 and match.group(2):
        # Java 8 and older report themselves as 1.x.
        major = int(match.group(2))
    if major < MIN_JAVA_VERSION:
        return f"Java {major} at {java} is too old for PySpark 4, which needs Java {MIN_JAVA_VERSION}. {_JAVA_FIX}"

    logger.debug("Java %d found at %s", major, java)
    return None
