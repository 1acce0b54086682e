"""Reading every input file the tool is given, with one-line errors.

Profiles, manifests, zero reports, envelopes, roots, keys, notes, documents,
timestamp sidecars, bundle members and DSN files are all read here, so a missing,
directory or unreadable path gets the same message shape and exit status
(NoInputError, 66) wherever it is named, and a file that is not the format it
should be is an InputError (65).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from freeze.errors import InputError, NoInputError, RefusedError


def _no_input(path: str | os.PathLike[str], what: str, exc: OSError) -> NoInputError:
    where = os.fspath(path)
    if isinstance(exc, FileNotFoundError):
        return NoInputError(f"{where}: no such {what}")
    if isinstance(exc, IsADirectoryError):
        return NoInputError(f"{where}: is a directory, not a {what}")
    if isinstance(exc, PermissionError):
        return NoInputError(f"{where}: permission denied")
    return NoInputError(f"{where}: cannot read {what}: {exc.strerror or exc}")


def read_input(path: str | os.PathLike[str], what: str = "file", *,
               max_bytes: int | None = None) -> bytes:
    """Return the file's bytes; `what` names the document in the error ("manifest").

    `max_bytes`: refuse (InputError) a file larger than this, before reading it,
    for inputs handed over by someone else (bundle members).
    """
    try:
        with open(path, "rb") as fh:
            if max_bytes is not None and os.fstat(fh.fileno()).st_size > max_bytes:
                raise InputError(f"{os.fspath(path)}: {what} is too large")
            return fh.read()
    except OSError as exc:
        raise _no_input(path, what, exc) from None


def read_text_input(path: str | os.PathLike[str], what: str = "file") -> str:
    """The file as UTF-8 text; other bytes are an InputError naming the file."""
    try:
        return read_input(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{os.fspath(path)}: {what} is not UTF-8 text") from None


def read_yaml_input(path: str | os.PathLike[str], what: str = "file") -> Any:
    """Parse a YAML (or JSON) file; a syntax error is one line naming the file."""
    import yaml

    try:
        return yaml.safe_load(read_input(path, what))
    except yaml.YAMLError as exc:
        raise InputError(f"{os.fspath(path)}: not valid YAML/JSON ({exc})".splitlines()[0]) from None


def read_owner_only(path: str | os.PathLike[str], what: str, *, limit: int = 64 * 1024) -> bytes:
    """Read a secret file (a DSN with a password): refused if group/others may access it.

    The file is opened without following a symlink and its mode checked on the
    open descriptor, so it cannot be swapped between the check and the read.
    Messages name `what` and the path, never the content.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise NoInputError(f"{what}: {p}: no such file") from None
    except OSError as exc:
        raise NoInputError(f"{what}: {p}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise RefusedError(
                f"{what}: {p}: readable or writable by group/others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {p}"
            )
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit)
    finally:
        os.close(fd)
