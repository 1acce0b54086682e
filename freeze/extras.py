"""Optional parts of the install (pip extras) and the error when one is missing.

`pip install election-freeze` is what an auditor's offline laptop needs to
verify evidence; the heavy parts live in extras: `pdf` (weasyprint, the
printable zero report), `postgres` (psycopg: snapshot/verify of a database,
zero), `ssh` (paramiko: --host). Their modules are imported only by the
commands that use them, through `require_extra`, so a missing extra is one line
naming what to install (exit 69: a program the command needs is unavailable),
never a traceback, and never a failure of a command that does not need it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from freeze.errors import UnavailableError

# distribution extra -> the modules it provides (for messages and the tests)
EXTRAS: dict[str, tuple[str, ...]] = {
    "pdf": ("weasyprint",),
    "postgres": ("psycopg",),
    "ssh": ("paramiko",),
}


class MissingExtraError(UnavailableError):
    """A command needs an optional part that is not installed (exit 69)."""


def install_hint(extra: str) -> str:
    return f"pip install 'election-freeze[{extra}]'"


def require_extra(module: str, extra: str) -> ModuleType:
    """Import `module`, or raise MissingExtraError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        # only the module itself missing; a broken install of it is a bug (exit 70)
        if exc.name is None or exc.name.split(".")[0] != module.split(".")[0]:
            raise
        raise MissingExtraError(
            f"{module} is not installed; this command needs the '{extra}' extra: "
            f"{install_hint(extra)}") from None
