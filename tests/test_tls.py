"""The HTTPS certificate: generated for localhost and reused, or the configured pair."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509

from operatorflow.clock import FakeClock
from operatorflow.errors import InvalidInput
from operatorflow.settings import load_settings
from operatorflow.tls import ensure_certificate


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_generated_certificate_names_localhost(settings):
    clock = FakeClock()

    cert_path, key_path = ensure_certificate(settings, clock)

    certificate = load(cert_path)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")
    ]
    assert certificate.not_valid_after_utc == clock.now() + dt.timedelta(days=365)
    assert cert_path.parent == settings.home / "tls"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_generated_certificate_reused(settings):
    cert_path, key_path = ensure_certificate(settings, FakeClock())
    first = (cert_path.read_bytes(), key_path.read_bytes())

    again = ensure_certificate(settings, FakeClock())

    assert again == (cert_path, key_path)
    assert (cert_path.read_bytes(), key_path.read_bytes()) == first


def test_expired_certificate_regenerated(settings):
    clock = FakeClock()
    cert_path, _ = ensure_certificate(settings, clock)
    old_serial = load(cert_path).serial_number
    clock.advance(dt.timedelta(days=365).total_seconds())

    ensure_certificate(settings, clock)

    renewed = load(cert_path)
    assert renewed.serial_number != old_serial
    assert renewed.not_valid_after_utc == clock.now() + dt.timedelta(days=365)


def test_mismatched_generated_pair_regenerated(settings, tmp_path):
    cert_path, key_path = ensure_certificate(settings, FakeClock())
    other_cert, other_key = ensure_certificate(load_settings(home=tmp_path / "other"), FakeClock())
    key_path.write_bytes(other_key.read_bytes())
    old_serial = load(cert_path).serial_number

    ensure_certificate(settings, FakeClock())

    assert load(cert_path).serial_number != old_serial


def test_configured_pair_used(settings, tmp_path):
    cert_path, key_path = ensure_certificate(load_settings(home=tmp_path / "issued"), FakeClock())
    configured = load_settings(home=settings.home, tls_cert_file=str(cert_path), tls_key_file=str(key_path))

    assert ensure_certificate(configured, FakeClock()) == (cert_path, key_path)
    assert not (settings.home / "tls").exists()


@pytest.mark.parametrize(
    ("given", "missing"),
    [("tls_cert_file", "OPERATORFLOW_TLS_KEY_FILE"), ("tls_key_file", "OPERATORFLOW_TLS_CERT_FILE")],
)
def test_half_configured_pair_raises(settings, tmp_path, given, missing):
    half = load_settings(home=settings.home, **{given: str(tmp_path / "file.pem")})

    with pytest.raises(InvalidInput) as caught:
        ensure_certificate(half)

    assert str(caught.value) == (
        f"{missing} is not set: set both OPERATORFLOW_TLS_CERT_FILE and OPERATORFLOW_TLS_KEY_FILE, "
        "or neither to use a generated self-signed certificate."
    )


def test_configured_file_missing_raises(settings, tmp_path):
    cert_path, _ = ensure_certificate(load_settings(home=tmp_path / "issued"), FakeClock())
    missing = tmp_path / "nowhere.key"
    configured = load_settings(home=settings.home, tls_cert_file=str(cert_path), tls_key_file=str(missing))

    with pytest.raises(InvalidInput) as caught:
        ensure_certificate(configured)

    assert str(caught.value) == (
        f"OPERATORFLOW_TLS_KEY_FILE names {missing}, which is not a file: give the path of a PEM file."
    )


def test_configured_key_of_other_certificate_raises(settings, tmp_path):
    cert_path, _ = ensure_certificate(load_settings(home=tmp_path / "one"), FakeClock())
    _, other_key = ensure_certificate(load_settings(home=tmp_path / "two"), FakeClock())
    configured = load_settings(home=settings.home, tls_cert_file=str(cert_path), tls_key_file=str(other_key))

    with pytest.raises(InvalidInput) as caught:
        ensure_certificate(configured)

    assert str(caught.value) == (
        f"The key {other_key} does not belong to the certificate {cert_path}: give the matching pair."
    )


def test_configured_certificate_not_pem_raises(settings, tmp_path):
    _, key_path = ensure_certificate(load_settings(home=tmp_path / "issued"), FakeClock())
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate\n")
    configured = load_settings(home=settings.home, tls_cert_file=str(garbage), tls_key_file=str(key_path))

    with pytest.raises(InvalidInput) as caught:
        ensure_certificate(configured)

    assert str(caught.value).startswith(f"The certificate {garbage} is not a PEM certificate: ")


def test_configured_key_unreadable_raises(settings, tmp_path, monkeypatch):
    cert_path, key_path = ensure_certificate(load_settings(home=tmp_path / "issued"), FakeClock())
    configured = load_settings(home=settings.home, tls_cert_file=str(cert_path), tls_key_file=str(key_path))
    real_read_bytes = Path.read_bytes

    def read_bytes(path):
        # The tests run as root, which chmod cannot lock out, so the denial is simulated.
        if path == key_path:
            raise PermissionError(13, "Permission denied", str(path))
        return real_read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)

    with pytest.raises(InvalidInput) as caught:
        ensure_certificate(configured)

    assert str(caught.value) == (
        f"{key_path} cannot be read: Permission denied. Make it readable by the user that runs OperatorFlow."
    )
