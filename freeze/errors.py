"""Errors the CLI turns into one line and an exit status.

Exit statuses (documented in README): drift findings use a bitmask in the low
bits, like AIDE (1 added, 2 removed, 4 changed); everything that is not a
finding about the system uses a code of its own, from sysexits(3) where one fits,
so a script can always tell "the system drifted" from "the check could not run".
"""

from __future__ import annotations

from collections.abc import Mapping

# findings (bitmask, verify/drift)
EXIT_OK = 0
EXIT_ADDED = 1
EXIT_REMOVED = 2
EXIT_CHANGED = 4
# refusals and failed checks
EXIT_VERIFY_FAILED = 8  # evidence/signature/threshold check failed
EXIT_REFUSED = 9  # an operation refused to proceed (drift before zero, non-zero totals, no confirmation)
# errors (sysexits)
EXIT_USAGE = 64
EXIT_DATAERR = 65  # malformed profile, corrupt manifest, bad key file
EXIT_NOINPUT = 66  # a named input file does not exist or cannot be read
EXIT_UNAVAILABLE = 69  # host or database unreachable, authentication failed
EXIT_SOFTWARE = 70  # a bug: reported in one line, traceback with --debug
EXIT_IOERR = 74
EXIT_WAITING = 75  # EX_TEMPFAIL: a guided ceremony waits for signatures (run it again later)
EXIT_NOPERM = 77
EXIT_CONFIG = 78
EXIT_INTERRUPTED = 130


class FreezeError(Exception):
    """Base of every error the CLI reports in one line. Never carries a secret."""

    exit_code = EXIT_SOFTWARE

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(FreezeError):
    exit_code = EXIT_USAGE


class InputError(FreezeError):
    """Malformed or tampered input: profile, manifest, envelope, bundle, key."""

    exit_code = EXIT_DATAERR


class NoInputError(FreezeError):
    exit_code = EXIT_NOINPUT


class UnavailableError(FreezeError):
    """A host or database that could not be reached or refused our credentials."""

    exit_code = EXIT_UNAVAILABLE


class ConfigMismatchError(InputError):
    """The profile does not fit the live system (a named table that does not exist)."""

    exit_code = EXIT_CONFIG


class VerificationError(FreezeError):
    """Evidence did not verify: bad signature, missing threshold, expired root."""

    exit_code = EXIT_VERIFY_FAILED


class RefusedError(FreezeError):
    """The tool refused to act because a safety precondition did not hold."""

    exit_code = EXIT_REFUSED


def worst_exit_code(errors: Mapping[str, BaseException]) -> int:
    """The exit status for several hosts' errors: the highest one (a bug counts as 70)."""
    return max((getattr(exc, "exit_code", EXIT_SOFTWARE) for exc in errors.values()), default=0)
