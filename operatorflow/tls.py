"""The HTTPS certificate: the configured pair, or a self-signed one for localhost kept under the data folder."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from operatorflow.clock import Clock
from operatorflow.errors import InvalidInput
from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

CERT_FILE = "localhost.crt"
KEY_FILE = "localhost.key"
VALIDITY_DAYS = 365
RENEW_BEFORE = dt.timedelta(days=1)
"""A generated certificate this close to its end is replaced on start, so it never expires mid-session."""

DNS_NAMES = ["localhost"]
IP_ADDRESSES = ["127.0.0.1", "::1"]


def ensure_certificate(settings: Settings, clock: Clock | None = None) -> tuple[Path, Path]:
    """Return (certificate, key) PEM paths for HTTPS.

    Uses OPERATORFLOW_TLS_CERT_FILE and OPERATORFLOW_TLS_KEY_FILE when both are set. Otherwise
    generates a self-signed certificate for localhost, 127.0.0.1 and ::1 under `home/tls` on first
    start, reuses it later, and replaces it once it is expired, unreadable or does not match its key.
    """
    clock = clock or Clock()
    if settings.tls_cert_file or settings.tls_key_file:
        return _configured_pair(settings)

    tls_dir = settings.home / "tls"
    cert_path, key_path = tls_dir / CERT_FILE, tls_dir / KEY_FILE
    problem = _generated_pair_problem(cert_path, key_path, clock.now())
    if problem is None:
        logger.info("tls reusing the self-signed certificate %s", cert_path)
        return cert_path, key_path

    logger.info("tls generating a self-signed certificate in %s: %s", tls_dir, problem)
    _generate(cert_path, key_path, clock.now())
    return cert_path, key_path


def _configured_pair(settings: Settings) -> tuple[Path, Path]:
    if not (settings.tls_cert_file and settings.tls_key_file):
        missing = "OPERATORFLOW_TLS_KEY_FILE" if settings.tls_cert_file else "OPERATORFLOW_TLS_CERT_FILE"
        raise InvalidInput(
            f"{missing} is not set: set both OPERATORFLOW_TLS_CERT_FILE and OPERATORFLOW_TLS_KEY_FILE, "
            "or neither to use a generated self-signed certificate."
        )

    cert_path = Path(settings.tls_cert_file).expanduser()
    key_path = Path(settings.tls_key_file).expanduser()
    for variable, path in (("OPERATORFLOW_TLS_CERT_FILE", cert_path), ("OPERATORFLOW_TLS_KEY_FILE", key_path)):
        if not path.is_file():
            raise InvalidInput(f"{variable} names {path}, which is not a file: give the path of a PEM file.")

    cert_pem, key_pem = _read_configured(cert_path), _read_configured(key_path)
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise InvalidInput(f"The certificate {cert_path} is not a PEM certificate: {exc}.") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError as exc:
        raise InvalidInput(f"The key {key_path} is encrypted: give an unencrypted PEM key.") from exc
    except ValueError as exc:
        raise InvalidInput(f"The key {key_path} is not a PEM private key: {exc}.") from exc
    if not _same_public_key(certificate, key):
        raise InvalidInput(f"The key {key_path} does not belong to the certificate {cert_path}: give the matching pair.")

    logger.info("tls using the configured certificate %s", cert_path)
    return cert_path, key_path


def _read_configured(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"{path} cannot be read: {exc.strerror}. Make it readable by the user that runs OperatorFlow."
        ) from exc


def _generated_pair_problem(cert_path: Path, key_path: Path, now: dt.datetime) -> str | None:
    """Return why the generated pair cannot be used, or None when it can."""
    if not (cert_path.is_file() and key_path.is_file()):
        return "none exists yet"
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        return f"the existing one is unreadable ({exc})"
    if not _same_public_key(certificate, key):
        return "the existing certificate does not match its key"
    if certificate.not_valid_after_utc - RENEW_BEFORE <= now:
        return f"the existing one expires {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    return None


def _same_public_key(certificate: x509.Certificate, key) -> bool:
    encoding, public_format = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(encoding, public_format) == key.public_key().public_bytes(
        encoding, public_format
    )


def _generate(cert_path: Path, key_path: Path, now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OperatorFlow (self-signed)")])
    alternative_names = [x509.DNSName(n) for n in DNS_NAMES]
    alternative_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in IP_ADDRESSES]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated a little so a client clock that is slightly behind still accepts it.
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )

    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    # The key goes first: a crash between the two writes leaves a mismatched pair, which the next
    # start detects and replaces.
    _write_private(key_path, key_pem)
    _write_private(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
    cert_path.chmod(0o644)


def _write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with a file readable by the owner only (mkstemp creates it 0600)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
