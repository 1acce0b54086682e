"""Small helpers shared by the lab modules: commands, hashing, locks."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from lab.config import LabError


def log(msg: str) -> None:
    print(f"lab: {msg}", file=sys.stderr, flush=True)


def need_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise LabError(f"missing host tools: {', '.join(missing)} (run scripts/bootstrap.sh)")


def run(cmd: Sequence[str | os.PathLike[str]], what: str, log_file: Path | None = None,
        env: dict[str, str] | None = None) -> None:
    """Run a command; on failure raise LabError naming `what` and the log to read."""
    if log_file is None:
        res = subprocess.run(list(map(str, cmd)), stdin=subprocess.DEVNULL, env=env,
                             capture_output=True, text=True)
        if res.returncode != 0:
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LabError(f"{what} failed (exit {res.returncode}): {tail[0]}")
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        res = subprocess.run(list(map(str, cmd)), stdin=subprocess.DEVNULL, env=env,
                             stdout=out, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        raise LabError(f"{what} failed (exit {res.returncode}); see {log_file}")


def sha256_parts(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:16]


def read_list(path: Path) -> list[str]:
    """Package names from a list file: one per line, '#' comments."""
    names: list[str] = []
    for line in path.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return sorted(set(names))


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialise builders that share a cache (two fleets may build at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


STALE_AFTER_S = 24 * 3600


def prune_stale(cache_dir: Path, keep: str) -> None:
    """Drop cached builds of other recipes once they are a day old.

    Not sooner: another fleet sharing the cache (a teammate's, a molecule run) may
    still be booted from an older recipe's image or served its repository.
    """
    now = time.time()
    for old in cache_dir.iterdir():
        if old.is_dir() and old.name != keep and now - old.stat().st_mtime > STALE_AFTER_S:
            shutil.rmtree(old, ignore_errors=True)


class Timer:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def __str__(self) -> str:
        return f"{time.monotonic() - self.start:.0f} s"
