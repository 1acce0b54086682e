"""The lab profile for host-only freezes made by the lab proofs: one host's profile,
composed as the freeze ceremony composes it (freeze.compose: the lab's base profile
plus the fragments of the roles playbooks/site.yml applies to the host)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from freeze.compose import compose_for_host, inventory_view, roles_for_host

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "inventories" / "lab" / "freeze" / "profile.yml"
# --quick: the profile's paths under these only (the hashing of /usr/lib, /usr/bin,
# /usr/sbin and /boot dominates a snapshot on an emulated CPU); every section kept
QUICK_PREFIXES = ("/etc", "/usr/local", "/var/", "/root")


def lab_hosts_profile(host: str, quick: bool = False) -> dict[str, Any]:
    """`host`'s composed lab profile without its database section (the database is
    checked over SQL, not on a host), optionally cut down to QUICK_PREFIXES."""
    groups, hostvars = inventory_view(REPO / "inventories" / "lab" / "hosts.yml")
    roles = roles_for_host(REPO / "playbooks" / "site.yml", host, groups)
    composed = compose_for_host(BASE, REPO / "roles", roles, host, hostvars.get(host, {}))
    profile: dict[str, Any] = yaml.safe_load(composed.text)
    profile.pop("database", None)
    profile["name"] = f"lab-counting-system-hosts/{host}"
    if quick:
        profile["paths"] = [r for r in profile["paths"] if r["path"].startswith(QUICK_PREFIXES)]
        profile["name"] += "-quick"
    return profile
