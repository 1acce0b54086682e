"""The fleet's host list, read from an Ansible inventory, and the generated
inventory that points Ansible and testinfra at the running VMs.

``inventories/lab/hosts.yml`` is the source of truth: every host under it is a VM,
its ``ansible_port`` written for the default port base (2220). ``up`` writes
``<fleet>/inventory/hosts.yml``: the same groups, with literal connection
variables (shifted ports, absolute key path), next to symlinks to the source's
group_vars/host_vars. Literal values matter: testinfra reads ``ansible-inventory
--list`` without templating.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.config import (
    DEFAULT_PORT_BASE,
    MAX_HOSTS,
    OPERATOR,
    SERVICE_FORWARDS,
    LabError,
    LabPaths,
    private_address,
)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
SSH_COMMON_ARGS = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                   "-o IdentitiesOnly=yes -o LogLevel=ERROR")


@dataclass(frozen=True)
class HostSpec:
    name: str
    port: int


def _walk_hosts(group: dict[str, Any], found: dict[str, int | None]) -> None:
    for name, hvars in (group.get("hosts") or {}).items():
        port = (hvars or {}).get("ansible_port")
        if found.get(name) is None:
            found[name] = int(port) if port is not None else None
    for child in (group.get("children") or {}).values():
        _walk_hosts(child or {}, found)


def hosts_from_inventory(path: Path, port_base: int) -> list[HostSpec]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LabError(f"cannot read inventory {path}: {exc}") from None
    found: dict[str, int | None] = {}
    _walk_hosts((data or {}).get("all") or {}, found)
    if not found:
        raise LabError(f"inventory {path} has no hosts")
    specs = []
    for name, port in found.items():
        if not NAME_RE.match(name):
            raise LabError(f"host name {name!r} in {path} is not a lab VM name (a-z, 0-9, -)")
        if port is None:
            raise LabError(f"host {name} in {path} has no ansible_port")
        specs.append(HostSpec(name, port - DEFAULT_PORT_BASE + port_base))
    _check_ports(specs, port_base)
    return specs


def hosts_from_names(names: list[str], port_base: int) -> list[HostSpec]:
    for name in names:
        if not NAME_RE.match(name):
            raise LabError(f"host name {name!r} is not a lab VM name (a-z, 0-9, -)")
    specs = [HostSpec(n, port_base + i) for i, n in enumerate(names, start=1)]
    _check_ports(specs, port_base)
    return specs


def _check_ports(specs: list[HostSpec], port_base: int) -> None:
    ports = [s.port for s in specs]
    for spec in specs:
        # The host's index (SSH port - base) picks its private address, MAC and
        # forwarded service ports (lab/config.py), so it must stay in range.
        if not 1 <= spec.port - port_base <= MAX_HOSTS:
            raise LabError(f"{spec.name}: SSH port {spec.port} must be port base + 1..{MAX_HOSTS}")
    if len(set(ports)) != len(ports):
        raise LabError(f"two hosts share an SSH port: {ports}")
    repo_port = port_base + 80
    if repo_port in ports:
        raise LabError(f"SSH port {repo_port} collides with the repository port")


def connection_vars(paths: LabPaths, spec: HostSpec) -> dict[str, Any]:
    # An explicit ControlPath makes testinfra (which passes these args to plain
    # ssh) reuse one multiplexed connection per host instead of a new login per
    # command (seconds each under emulation). Ansible sees it and uses it as well.
    control = paths.fleet / "cm" / "%C"
    index = spec.port - paths.port_base
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": spec.port,
        "ansible_user": OPERATOR,
        "ansible_ssh_private_key_file": str(paths.ssh_key),
        # Lab VMs are throw-away and get new host keys on every boot: no host key
        # checking for THIS inventory only (never set globally).
        "ansible_ssh_common_args": f"{SSH_COMMON_ARGS} -o ControlPath={control}",
        # The lab's own network and PKI (lab/config.py, lab/pki.py): the group_vars of
        # inventories/lab map these onto the roles' variables.
        "lab_private_address": private_address(index),
        **{f"lab_forward_{name}": paths.port_base + offset + index
           for name, (offset, _) in SERVICE_FORWARDS.items()},
        "lab_tls_ca_certificate": str(paths.pki / "ca.crt"),
        "lab_tls_certificate": str(paths.pki / f"{spec.name}.crt"),
        "lab_tls_private_key": str(paths.pki / f"{spec.name}.key"),
    }


def write_inventory(paths: LabPaths, specs: list[HostSpec], source: Path | None) -> Path:
    """Write <fleet>/inventory/ for the running fleet and return its directory."""
    out = paths.inventory_dir
    out.mkdir(parents=True, exist_ok=True)
    (paths.fleet / "cm").mkdir(mode=0o700, exist_ok=True)
    by_name = {s.name: s for s in specs}
    if source is not None:
        data = copy.deepcopy(yaml.safe_load(source.read_text()))

        def fill(group: dict[str, Any]) -> None:
            hosts = group.get("hosts") or {}
            for name in list(hosts):
                merged = dict(hosts[name] or {})
                merged.update(connection_vars(paths, by_name[name]))
                hosts[name] = merged
            for child in (group.get("children") or {}).values():
                if child:
                    fill(child)

        fill(data["all"])
        for sub in ("group_vars", "host_vars"):
            link = out / sub
            if link.is_symlink() or link.exists():
                link.unlink()
            if (source.parent / sub).is_dir():
                link.symlink_to(source.parent.resolve() / sub)
    else:
        data = {"all": {"hosts": {s.name: connection_vars(paths, s) for s in specs}}}
    header = "# Generated by `python -m lab up` for the running fleet; do not edit.\n"
    (out / "hosts.yml").write_text(header + yaml.safe_dump(data, sort_keys=False))
    return out
