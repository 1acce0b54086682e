"""The lab profile for host-only freezes made by the lab proofs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
# --quick: the profile's paths under these only (the hashing of /usr/lib, /usr/bin,
# /usr/sbin and /boot dominates a snapshot on an emulated CPU); every section kept
QUICK_PREFIXES = ("/etc", "/usr/local", "/var/", "/root")


def lab_hosts_profile(quick: bool = False) -> dict[str, Any]:
    """inventories/lab/freeze/profile.yml without its database section (the database is
    checked over SQL, not on a host), optionally cut down to QUICK_PREFIXES."""
    profile: dict[str, Any] = yaml.safe_load((REPO / "inventories/lab/freeze/profile.yml").read_text())
    profile.pop("database", None)
    profile["name"] = "lab-counting-system-hosts"
    if quick:
        profile["paths"] = [r for r in profile["paths"] if r["path"].startswith(QUICK_PREFIXES)]
        profile["name"] = "lab-counting-system-hosts-quick"
    return profile
