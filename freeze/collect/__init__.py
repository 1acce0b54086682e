"""Collectors: one module per kind of state.

System collectors (files, packages, services, accounts, network, kernel) are
standard-library only and run where the transport says (this host, or a remote
one through SSH); the PostgreSQL collector runs here and connects to the DSN.
`freeze.snapshot` puts their results together into a manifest.

This package module imports nothing but `freeze.errors`: `freeze.transport`
imports the collectors, so anything here that imported the transport back would
make a cycle.
"""

from __future__ import annotations

from freeze.errors import FreezeError, InputError, NoInputError, UnavailableError

_ERROR_KINDS = {"noinput": NoInputError, "unavailable": UnavailableError, "dataerr": InputError}


def error_for(kind: str, message: str) -> FreezeError:
    """The FreezeError for a collector's error kind (as the remote program reports it)."""
    cls = _ERROR_KINDS.get(kind)
    return cls(message) if cls is not None else FreezeError(message)
