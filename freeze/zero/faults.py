"""Crash points for the fault-injection tests.

`FREEZE_TEST_CRASH_AT=<step>` makes the process SIGKILL itself when it reaches
that step: no cleanup, no `finally`, exactly like a power cut of the tool (the
database server keeps running). tests/integration/test_zero_faults.py kills the
tool at every step below and checks that the database is untouched or fully
zeroed with its evidence, that a reported backup is intact, and that a re-run
finishes the job. Unset in production; the variable only ever causes a crash.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "FREEZE_TEST_CRASH_AT"

STEPS = (
    "connected",          # advisory lock held, nothing else done
    "locked",             # zero transaction open, tables locked, snapshot exported
    "backup-running",     # pg_dump started (its child dies with us: PR_SET_PDEATHSIG)
    "backup-written",     # dump complete (still *.partial), not verified
    "restore-running",    # pg_restore into the scratch database started
    "backup-verified",    # scratch restore matched, dump renamed final + fsynced
    "cleared",            # results deleted and sequences reset, not committed
    "before-commit",      # zero report computed, evidence row inserted, not committed
    "committed",          # committed, nothing exported yet
    "exporting",          # some evidence files written, not all
    "exported",           # all files written, export not yet marked in the database
)


def crash_point(step: str) -> None:
    assert step in STEPS, step
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def die_with_parent() -> None:
    """preexec_fn for children (pg_dump, pg_restore): SIGKILL them if we die, so a
    crashed run never leaves a dump or restore running behind it (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: best effort
        pass
