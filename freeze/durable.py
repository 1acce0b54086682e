"""Durable file writes: a file either exists complete, or not at all.

Every file the tool produces (manifests, envelopes, notes, keys, timestamp
sidecars, bundles, zero evidence, rendered reports) goes through here: a
temporary file with an unpredictable name (mkstemp, O_EXCL) in
the destination's directory, fsync, rename over the destination, fsync of the
directory. A crash leaves the old file or the new one, never half of either,
and nobody can plant a symlink at a guessable temporary name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_stream(path: Path | str, write: Callable[[BinaryIO], T], mode: int = 0o644,
                  *, exclusive: bool = False) -> T:
    """Call `write(fh)` on a temp file beside `path`, then make it `path` durably.

    Returns what `write` returns (e.g. the digest of what it wrote). On any
    error the temp file is removed and `path` is left as it was. The temp file
    is created 0600 (mkstemp) and gets `mode` once written, so a private file
    is never readable by others, not even half-written. `exclusive`: never replace an existing
    `path` (FileExistsError): the temp file is hard-linked to the name, which,
    unlike a rename, fails atomically if the name exists.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            result = write(fh)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)
    return result


def atomic_write(path: Path | str, data: bytes, mode: int = 0o644, *,
                 exclusive: bool = False) -> None:
    """Write `data` to `path` durably (see module docstring and `atomic_stream`)."""
    atomic_stream(path, lambda fh: fh.write(data), mode, exclusive=exclusive)


def write_tree(out: Path, files: dict[str, bytes], mode: int = 0o644) -> None:
    """Create the directory `out` (it must not exist) holding `files` (relative path -> bytes).

    Each file is written durably; the directories are fsynced after their files,
    so after a crash every file present in `out` is complete.
    """
    out.mkdir(parents=True)
    for rel, data in files.items():
        atomic_write(out / rel, data, mode)
    for directory in sorted({(out / rel).parent for rel in files}, reverse=True):
        fsync_dir(directory)
    fsync_dir(out.parent)


def durable_rename(src: Path, dst: Path) -> None:
    fsync_file(src)
    os.replace(src, dst)
    fsync_dir(dst.parent)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
