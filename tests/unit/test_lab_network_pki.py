"""The lab's network layout and PKI: the contract the roles' lab group_vars rely on."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from lab.config import LabError, LabPaths
from lab.inventory import HostSpec, connection_vars, hosts_from_names
from lab.pki import ensure_pki


def _paths(tmp_path: Path, base: int = 3000) -> LabPaths:
    return LabPaths(cache=tmp_path / "cache", fleet=tmp_path / "fleet", port_base=base)


def test_each_host_gets_its_own_address_and_forwards(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    specs = hosts_from_names(["db", "app", "web"], paths.port_base)
    got = [connection_vars(paths, s) for s in specs]
    assert [g["lab_private_address"] for g in got] == ["10.20.0.11", "10.20.0.12", "10.20.0.13"]
    assert [g["lab_forward_https"] for g in got] == [3031, 3032, 3033]
    assert [g["lab_forward_postgresql"] for g in got] == [3051, 3052, 3053]
    every_port = [p for g in got for k, p in g.items() if k.startswith("lab_forward_")]
    every_port += [s.port for s in specs] + [paths.repo_port, paths.mcast_port]
    assert len(set(every_port)) == len(every_port), "two services share a host port"


def test_host_index_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="port base"):
        hosts_from_names([f"h{i}" for i in range(10)], 3000)


def test_pki_certificates_verify_and_name_the_host(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    specs = [HostSpec("count-db", 3001), HostSpec("results-tx", 3003)]
    pki = ensure_pki(paths, specs)
    assert (pki / "ca.key").stat().st_mode & 0o077 == 0
    assert (pki / "count-db.key").stat().st_mode & 0o077 == 0
    for name in ("count-db", "results-tx"):
        res = subprocess.run(["openssl", "verify", "-CAfile", str(pki / "ca.crt"),
                              "-purpose", "sslserver", str(pki / f"{name}.crt")],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    cert = x509.load_pem_x509_certificate((pki / "results-tx.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "results-tx" in san.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("10.20.0.13") in san.get_values_for_type(x509.IPAddress)
    # a second run reuses the CA: certificates already handed to hosts stay valid
    before = (pki / "ca.crt").read_bytes()
    ensure_pki(paths, specs)
    assert (pki / "ca.crt").read_bytes() == before
