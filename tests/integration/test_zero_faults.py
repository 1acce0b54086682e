"""Fault injection: SIGKILL the real `freeze zero` at every step.

After each crash the database must be either exactly as before or fully zeroed
with its evidence row committed - never in between; a backup the evidence
reports must be intact (sha256); and simply running the same command again must
end fully zeroed with complete evidence files.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from freeze.zero.faults import CRASH_ENV, STEPS
from tests.integration.test_zero_support import (
    check_exported,
    db_state,
    is_fully_zeroed,
    make_zero_env,
    sha256_of,
    zero_runs,
)

pytestmark = pytest.mark.postgres

COMMITTED_FROM = STEPS.index("committed")


def _children_of_dead_runs_are_gone(marker: str) -> None:
    """No pg_dump/pg_restore left running for the killed run (PR_SET_PDEATHSIG).
    The kernel delivers the death signal asynchronously: allow it a few seconds."""
    deadline = time.monotonic() + 10
    while True:
        left = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if ("pg_dump" in cmd or "pg_restore" in cmd) and marker in cmd:
                left.append(cmd)
        if not left:
            return
        assert time.monotonic() < deadline, left
        time.sleep(0.2)


@pytest.mark.parametrize("step", STEPS)
def test_crash_at_step_leaves_untouched_or_zeroed_and_rerun_finishes(pg_server, pg_db, tmp_path,
                                                                     step):
    ze = make_zero_env(pg_server, pg_db, tmp_path)
    before = db_state(ze.dsn)

    proc = ze.zero("--confirm", "GE-2026", env=ze.env(**{CRASH_ENV: step}))
    assert proc.returncode == -signal.SIGKILL, (step, proc.returncode, proc.stderr)
    _children_of_dead_runs_are_gone(str(ze.evidence))

    state = db_state(ze.dsn)
    runs = zero_runs(ze.dsn)
    if STEPS.index(step) < COMMITTED_FROM:
        assert state == before, f"crash at {step} changed the database"
        assert runs == []
        # a backup that reached its final name is complete and matches its .sha256
        for dump in (ze.evidence / "backups").glob("*.dump") if ze.evidence.exists() else ():
            digest, name = dump.with_name(dump.name + ".sha256").read_text().split()
            assert name == dump.name and sha256_of(dump) == digest
        if step in ("backup-verified", "cleared", "before-commit"):
            assert len(list((ze.evidence / "backups").glob("*.dump"))) == 1
    else:
        assert is_fully_zeroed(state, before), f"crash at {step} left a partial zero"
        [run] = runs
        backup = Path(run["record"]["backup"]["path"])
        assert sha256_of(backup) == run["record"]["backup"]["sha256"]
        if step != "exported":
            assert run["exported_at"] is None

    # the operator runs the same command again
    proc = ze.zero("--confirm", "GE-2026")
    assert proc.returncode == 0, (step, proc.stderr)
    if STEPS.index(step) >= COMMITTED_FROM:
        assert "had committed, but its evidence files" in proc.stdout
    final = db_state(ze.dsn)
    assert is_fully_zeroed(final, before)
    runs = zero_runs(ze.dsn)
    assert len(runs) == 1 and runs[0]["exported_at"] is not None
    check_exported(runs[0])
    # nothing half-done left behind
    assert not list(ze.evidence.rglob("*.partial"))
    assert not list(ze.evidence.rglob(".*.tmp-*"))
    with psycopg.connect(ze.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE "
                            "'freeze\\_verify\\_%'").fetchone()[0] == 0
