"""Where the lab keeps things, and the knobs read from the environment.

Two directories, so that several fleets can run side by side on one machine while
sharing the expensive artefacts:

* the cache (``LAB_CACHE``, default ``.lab/cache``): SSH key, base images and apt
  repositories, each in a directory named after the hash of its recipe;
* the fleet directory (``LAB_DIR``, default ``.lab/fleet``): overlays, pid files,
  console logs and the generated Ansible inventory of one running fleet.

``LAB_PORT_BASE`` (default 2220) shifts every port of a fleet: the SSH ports in
``inventories/lab/hosts.yml`` are written for the default base, and the fleet's
apt repository is served on ``base + 80``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LAB_SRC = Path(__file__).resolve().parent
DEFAULT_PORT_BASE = 2220
REPO_PORT_OFFSET = 80
DEFAULT_INVENTORY = REPO_ROOT / "inventories" / "lab" / "hosts.yml"
# The account Ansible connects as. Not "operator": Debian already has a system
# group of that name (gid 37).
OPERATOR = "labadmin"

# The lab's private service network: a second NIC (eth1) on every VM, joined through
# a qemu multicast socket on the host's loopback (port base + 90), so the hosts reach
# each other the way the counting servers do (database from the application hosts,
# replica from the database) while the first NIC stays a restricted user-mode
# network. Host i (SSH port = base + i) gets PRIVATE_PREFIX.(10 + i) and a fixed MAC
# that the image's systemd-networkd files map to that address.
MAX_HOSTS = 9
PRIVATE_PREFIX = "10.20.0"
PRIVATE_NETMASK_BITS = 24
MCAST_GROUP = "230.20.0.1"
MCAST_PORT_OFFSET = 90
# Service ports forwarded from 127.0.0.1:(base + offset + i) to the guest, for tests
# and benchmarks run from the controller: name -> (offset, guest port).
SERVICE_FORWARDS: dict[str, tuple[int, int]] = {
    "https": (30, 443),
    "http": (40, 80),
    "postgresql": (50, 5432),
}


def private_address(index: int) -> str:
    return f"{PRIVATE_PREFIX}.{10 + index}"


def private_mac(index: int) -> str:
    return f"52:54:00:0a:14:{10 + index:02x}"


class LabError(Exception):
    """A failure the CLI reports as one line (never a traceback)."""


@dataclass(frozen=True)
class LabPaths:
    cache: Path
    fleet: Path
    port_base: int

    @property
    def ssh_key(self) -> Path:
        return self.cache / "ssh" / "id_ed25519"

    @property
    def images(self) -> Path:
        return self.cache / "images"

    @property
    def repos(self) -> Path:
        return self.cache / "repos"

    @property
    def repo_port(self) -> int:
        return self.port_base + REPO_PORT_OFFSET

    @property
    def mcast_port(self) -> int:
        return self.port_base + MCAST_PORT_OFFSET

    @property
    def pki(self) -> Path:
        return self.fleet / "pki"

    @property
    def inventory_dir(self) -> Path:
        return self.fleet / "inventory"


def _dir_from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).resolve() if value else default


def paths_from_env(
    fleet: str | None = None, cache: str | None = None, port_base: int | None = None
) -> LabPaths:
    if port_base is None:
        raw = os.environ.get("LAB_PORT_BASE", str(DEFAULT_PORT_BASE))
        try:
            port_base = int(raw)
        except ValueError:
            raise LabError(f"LAB_PORT_BASE must be a number, got {raw!r}") from None
    if not 1024 <= port_base <= 65000:
        raise LabError(f"port base {port_base} is outside 1024..65000")
    return LabPaths(
        cache=Path(cache).resolve() if cache else _dir_from_env("LAB_CACHE", REPO_ROOT / ".lab" / "cache"),
        fleet=Path(fleet).resolve() if fleet else _dir_from_env("LAB_DIR", REPO_ROOT / ".lab" / "fleet"),
        port_base=port_base,
    )
