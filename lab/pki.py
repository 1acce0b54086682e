"""The lab's own certificate authority: one CA per fleet, one server certificate per VM.

The roles take TLS certificates from inventory (production brings the directorate's
own PKI); the lab makes a throw-away CA at ``up`` so that nginx, PostgreSQL and
rsyslog run with real certificates that clients verify (``verify-full``), not with
verification switched off. Everything lives in ``<fleet>/pki``: keys are 0600 and
never leave the fleet directory; a new fleet directory gets a new CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.config import LabPaths, private_address
from lab.inventory import HostSpec

VALIDITY = datetime.timedelta(days=30)
CA_NAME = "election-freeze lab CA"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _load_ca(pki: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    key_path, cert_path = pki / "ca.key", pki / "ca.crt"
    if not (key_path.exists() and cert_path.exists()):
        return None
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if cert.not_valid_after_utc - datetime.timedelta(days=2) < datetime.datetime.now(datetime.UTC):
        return None
    return key, cert


def _new_ca(pki: Path, now: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_key(pki / "ca.key", key)
    (pki / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # Host certificates signed by an older CA would no longer verify.
    for old in pki.glob("*.crt"):
        if old.name != "ca.crt":
            old.unlink()
    return key, cert


def _host_cert(pki: Path, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
               name: str, address: str, now: datetime.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.DNSName(name), x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address(address)),
    ]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_key(pki / f"{name}.key", key)
    (pki / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_pki(paths: LabPaths, specs: list[HostSpec]) -> Path:
    """Make (or reuse) the fleet's CA and a certificate for every host; return the directory."""
    pki = paths.pki
    pki.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    loaded = _load_ca(pki)
    ca_key, ca_cert = loaded if loaded is not None else _new_ca(pki, now)
    for spec in specs:
        if not (pki / f"{spec.name}.crt").exists() or not (pki / f"{spec.name}.key").exists():
            _host_cert(pki, ca_key, ca_cert, spec.name,
                       private_address(spec.port - paths.port_base), now)
    return pki
