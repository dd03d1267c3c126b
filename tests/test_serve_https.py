"""The started app serves HTTPS only: its certificate, one listening port, no page over plain HTTP, XSRF protection on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from operatorflow.clock import FakeClock
from operatorflow.serve import streamlit_flag_options
from operatorflow.settings import PROJECT_DIR, load_settings
from operatorflow.tls import ensure_certificate
from tests.app_server import (
    START_TIMEOUT_SECONDS,
    app_environment,
    plain_http_get,
    start_app,
    unverified_context,
)
from tests.aws import free_port


def served_certificate(port: int) -> bytes:
    """Return the DER certificate that a TLS handshake with the app on 127.0.0.1 presents."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with unverified_context().wrap_socket(raw, server_hostname="localhost") as connection:
            return connection.getpeercert(binary_form=True)


def pem_as_der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)


def listening_ports(pid: int) -> set[int]:
    """Return the TCP ports on which process `pid` has a listening socket, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_address, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A is TCP_LISTEN
                ports.add(int(local_address.rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture(scope="module")
def default_app(tmp_path_factory):
    """The app on the embedded defaults: a self-signed certificate generated at its first start."""
    yield from start_app(tmp_path_factory.mktemp("default-app"))


@pytest.fixture(scope="module")
def issued_pair(tmp_path_factory):
    """A certificate and key made outside the app's data folder, as an administrator would configure them."""
    return ensure_certificate(load_settings(home=tmp_path_factory.mktemp("issued")), FakeClock())


@pytest.fixture(scope="module")
def configured_app(tmp_path_factory, issued_pair):
    cert_path, key_path = issued_pair
    yield from start_app(tmp_path_factory.mktemp("configured-app"),
                         OPERATORFLOW_TLS_CERT_FILE=str(cert_path), OPERATORFLOW_TLS_KEY_FILE=str(key_path))


def test_default_app_serves_generated_certificate(default_app):
    generated = default_app.home / "tls" / "localhost.crt"

    assert generated.is_file()
    assert served_certificate(default_app.port) == pem_as_der(generated)


def test_configured_certificate_replaces_generated(configured_app, issued_pair):
    cert_path, _ = issued_pair

    assert served_certificate(configured_app.port) == pem_as_der(cert_path)
    assert not (configured_app.home / "tls").exists()


def test_app_listens_on_one_port(default_app):
    assert listening_ports(default_app.process.pid) == {default_app.port}


def test_plain_http_gets_no_page(default_app):
    reply = plain_http_get(default_app.port)

    assert not reply.startswith(b"HTTP/")
    assert b"<html" not in reply.lower()


def test_upload_without_xsrf_token_rejected(default_app):
    request = urllib.request.Request(
        f"https://127.0.0.1:{default_app.port}/_stcore/upload_file/no-session/no-file",
        data=b"--x--\r\n", method="PUT", headers={"Content-Type": "multipart/form-data; boundary=x"},
    )

    with pytest.raises(urllib.error.HTTPError) as rejected:
        urllib.request.urlopen(request, context=unverified_context(), timeout=10)

    assert rejected.value.code == 403
    assert rejected.value.read() == b"XSRF token missing or invalid"


def test_xsrf_protection_configured_on():
    config = tomllib.loads((PROJECT_DIR / ".streamlit" / "config.toml").read_text())
    flags = streamlit_flag_options(load_settings(), "localhost", "cert.pem", "key.pem")

    assert config["server"]["enableXsrfProtection"] is True
    assert flags["server.enableXsrfProtection"] is True


@pytest.mark.parametrize("problem", ["mismatched", "garbage"])
def test_bad_configured_pair_stops_start(tmp_path, problem):
    cert_path, key_path = ensure_certificate(load_settings(home=tmp_path / "one"), FakeClock())
    if problem == "mismatched":
        _, key_path = ensure_certificate(load_settings(home=tmp_path / "two"), FakeClock())
        expected = f"The key {key_path} does not belong to the certificate {cert_path}: give the matching pair."
    else:
        cert_path.write_text("not a certificate\n")
        expected = f"The certificate {cert_path} is not a PEM certificate"
    env = app_environment(tmp_path / "home", free_port(), OPERATORFLOW_TLS_CERT_FILE=str(cert_path),
                          OPERATORFLOW_TLS_KEY_FILE=str(key_path))

    finished = subprocess.run([sys.executable, "-m", "operatorflow.serve"], cwd=PROJECT_DIR, env=env,
                              capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS)

    assert finished.returncode == 2
    assert f"OperatorFlow did not start: {expected}" in finished.stderr
    assert "OperatorFlow is at" not in finished.stdout
