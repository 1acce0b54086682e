"""Shared helpers of the collectors. Standard library only.

Every module in `freeze.collect` except `postgres` is standard-library only on
purpose: `freeze.transport` ships their source to a remote host and runs them
with the host's own `python3 -`, so nothing needs installing on a counting
server. They return plain data and raise `CollectError`; they never print.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# what kind of failure, mapped to an exit status by the caller (freeze.collect)
NOINPUT = "noinput"  # a path the profile names is missing or unreadable
UNAVAILABLE = "unavailable"
DATAERR = "dataerr"


class CollectError(Exception):
    def __init__(self, message: str, kind: str = NOINPUT) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Collected:
    """What one or more collectors found: sections, parts that could not be read, facts."""

    sections: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: Collected) -> None:
        self.sections.update(other.sections)
        self.unavailable.update(other.unavailable)
        self.facts.update(other.facts)

    def to_dict(self) -> dict[str, Any]:
        return {"sections": self.sections, "unavailable": self.unavailable, "facts": self.facts}


Progress = Callable[[int, int], None]


def text_key(raw: str) -> str:
    """A valid-Unicode, unambiguous text form of a file name or other OS string.

    Names that are valid UTF-8 without a backslash are kept as they are (nearly
    all). Otherwise backslashes are doubled and undecodable bytes become \\xNN,
    so a file literally named `a\\xe9` can never take the key of `a` + byte 0xE9
    (and hide it).
    """
    if "\\" not in raw:
        try:
            raw.encode("utf-8")
            return raw
        except UnicodeEncodeError:
            pass
    data = raw.encode("utf-8", "surrogateescape").replace(b"\\", b"\\\\")
    return data.decode("utf-8", "backslashreplace")


def under_root(root: str, path: str) -> str:
    """The real path of `path` (absolute, as seen on the frozen system) below `root`."""
    if root in ("", "/"):
        return path
    return root.rstrip("/") + path


def not_live(root: str, what: str) -> str:
    """The `unavailable` reason of a part only a running system has, under an alternate root."""
    return (f"not collected: root is {root} (a mounted image has no running {what}; "
            "snapshot the live host with root / to cover it)")


def run(argv: list[str], timeout: float = 60.0) -> tuple[int, str, str]:
    """Run a fixed command (never one taken from input) with a clean C locale."""
    exe = shutil.which(argv[0], path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if exe is None:
        raise FileNotFoundError(argv[0])
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "LANG": "C",
           "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
    proc = subprocess.run([exe] + argv[1:], capture_output=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"))


def first_line(text: str, limit: int = 160) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""
