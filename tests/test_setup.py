"""The set-up script stops early, naming what to install, when Java is missing or too old."""

import os
import subprocess

import pytest

from operatorflow.settings import PROJECT_DIR


def _setup_with_java(tmp_path, version_line: str | None) -> subprocess.CompletedProcess:
    java_home = tmp_path / "jdk"
    (java_home / "bin").mkdir(parents=True)
    if version_line is not None:
        java = java_home / "bin" / "java"
        java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
        java.chmod(0o755)
    env = {**os.environ, "JAVA_HOME": str(java_home)}
    return subprocess.run(["bash", str(PROJECT_DIR / "scripts" / "setup.sh")], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("version_line, found", [
    ('openjdk version "11.0.2" 2019-01-15', "Java 11 was found"),
    ('java version "1.8.0_292"', "Java 8 was found"),
    (None, "no java command was found"),
])
def test_setup_names_java_to_install(tmp_path, version_line, found):
    result = _setup_with_java(tmp_path, version_line)

    assert result.returncode == 1
    assert "PySpark needs Java 17 or newer" in result.stderr
    assert found in result.stderr
    assert "apt-get install openjdk-17-jre-headless" in result.stderr


def test_setup_rejects_unknown_argument():
    result = subprocess.run(["bash", str(PROJECT_DIR / "scripts" / "setup.sh"), "--with-gpu"],
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert result.stderr == (
        "error: unknown argument --with-gpu. Usage: scripts/setup.sh [app|dev] [--with-deep-learning]\n"
    )
