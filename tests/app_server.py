"""The app started as users start it (`python -m operatorflow.serve`), for tests that need a real server."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from operatorflow.settings import PROJECT_DIR
from tests.aws import free_port

START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 30


@dataclass
class StartedApp:
    home: Path
    port: int
    process: subprocess.Popen
    log_path: Path


def start_app(home: Path, address: str | None = "127.0.0.1", **extra: str) -> Iterator[StartedApp]:
    """Start the app on a free port with its own data folder, wait for its health check, yield it, stop it.

    `extra` sets environment variables, such as OPERATORFLOW_WORKER (default `none`). With `address`
    None the app listens on its default address, as `./start.sh` does.
    """
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = app_environment(home, port, **extra)
    command = [sys.executable, "-m", "operatorflow.serve"] + (["--address", address] if address else [])
    log_path = home / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_health(port, process, log_path)
        yield StartedApp(home, port, process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def app_environment(home: Path, port: int, **extra: str) -> dict[str, str]:
    """Return this process's environment without OPERATORFLOW_* settings, plus the app's data folder, port and `extra`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("OPERATORFLOW_")}
    env.update(OPERATORFLOW_HOME=str(home), OPERATORFLOW_WORKER="none", OPERATORFLOW_PORT=str(port),
               PYTHONPATH=str(PROJECT_DIR))
    env.update(extra)
    return env


def wait_for_health(port: int, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"The app exited with code {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/_stcore/health", context=unverified_context(),
                                        timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"The app did not answer its health check within {START_TIMEOUT_SECONDS} s:\n"
                f"{log_path.read_text()[-3000:]}")


def unverified_context() -> ssl.SSLContext:
    # The app's certificate is self-signed; tests that care compare the served certificate themselves.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def plain_http_get(port: int) -> bytes:
    """Send a plain HTTP request to the HTTPS port and return whatever comes back before the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        try:
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)
