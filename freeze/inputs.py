"""Reading the operator's input files (profile, manifest, report) with one-line errors.

Every command that takes a file path reads it through `read_input`, so a missing,
directory or unreadable path gets the same message shape and exit status
(NoInputError, 66) wherever it is named.
"""

from __future__ import annotations

import os

from freeze.errors import NoInputError


def read_input(path: str | os.PathLike[str], what: str) -> bytes:
    """Return the file's bytes; `what` names the document in the error ("manifest")."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise NoInputError(f"{os.fspath(path)}: no such {what}") from None
    except IsADirectoryError:
        raise NoInputError(f"{os.fspath(path)}: is a directory, not a {what}") from None
    except OSError as exc:
        raise NoInputError(f"{os.fspath(path)}: cannot read {what}: {exc.strerror}") from None

