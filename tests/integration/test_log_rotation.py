"""Log rotation under a `rotating` path (issue 17): what logrotate does to real files
(rename, new file, compression of older generations, copytruncate, deleting the
oldest) verifies clean; a rewrite hidden in a rotation, a deleted generation, an
injected one or a log replaced without its recorded bytes anywhere is drift.

The rotations are made by hand, exactly as logrotate's default (numbered, `create`,
`compress`, `delaycompress`) and `copytruncate` modes do them, on real files."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from freeze.drift import DriftReport, verify
from freeze.manifest import Manifest
from freeze.profile import Profile, load_profile
from freeze.snapshot import take_snapshot
from tests.profiles import ONLY_FILES


def _gzip(src: Path, dst: Path) -> None:
    with open(src, "rb") as fh, gzip.open(dst, "wb") as out:
        shutil.copyfileobj(fh, out)
    shutil.copymode(src, dst)
    src.unlink()


def rotate(log: Path, keep: int = 4, *, delaycompress: bool = True,
           copytruncate: bool = False, compress: bool = True) -> None:
    """One numbered logrotate rotation of `log` (default Debian naming); with
    `compress=False` as auditd rotates its log (renames only)."""
    def name(g: int) -> Path:
        plain = log.with_name(f"{log.name}.{g}")
        return plain if plain.exists() else log.with_name(f"{log.name}.{g}.gz")

    for g in range(keep, 0, -1):
        src = name(g)
        if not src.exists():
            continue
        if g == keep:
            src.unlink()  # past the rotate count
            continue
        gz = ".gz" if src.suffix == ".gz" else ""
        if gz or not compress:
            src.rename(log.with_name(f"{log.name}.{g + 1}{gz}"))
        else:
            _gzip(src, log.with_name(f"{log.name}.{g + 1}.gz"))
    first = log.with_name(f"{log.name}.1")
    if copytruncate:
        shutil.copy2(log, first)
        with open(log, "r+b") as fh:
            fh.truncate(0)
    else:
        mode = log.stat().st_mode & 0o7777
        log.rename(first)
        log.touch()
        os.chmod(log, mode)
    if compress and not delaycompress:
        _gzip(first, log.with_name(f"{log.name}.1.gz"))


def savelog(log: Path, keep: int = 7) -> None:
    """One rotation as Debian's savelog (cron.daily of acct) makes it: NAME -> NAME.0,
    NAME.0 -> NAME.1.gz, NAME.N.gz -> NAME.N+1.gz, at most `keep` generations."""
    for n in range(keep - 1, 0, -1):
        src = log.with_name(f"{log.name}.{n}.gz")
        if src.exists():
            if n + 1 >= keep:
                src.unlink()
            else:
                src.rename(log.with_name(f"{log.name}.{n + 1}.gz"))
    zero = log.with_name(f"{log.name}.0")
    if zero.exists():
        _gzip(zero, log.with_name(f"{log.name}.1.gz"))
    mode = log.stat().st_mode & 0o7777
    log.rename(zero)
    log.touch()
    os.chmod(log, mode)


@pytest.fixture
def logs(tmp_path: Path) -> tuple[Path, Profile]:
    root = tmp_path / "host"
    log = root / "var/log"
    log.mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc/app.conf").write_text("threshold = 10\n")
    (log / "syslog").write_text("boot\nservice started\n")
    os.chmod(log / "syslog", 0o640)
    (log / "syslog.1").write_text("yesterday\n")
    os.chmod(log / "syslog.1", 0o640)
    with gzip.open(log / "syslog.2.gz", "wb") as fh:
        fh.write(b"the day before\n")
    os.chmod(log / "syslog.2.gz", 0o640)
    (log / "auth.log").write_text("login ok\n")
    (log / "lastlog").write_bytes(b"\0" * 292)
    profile = tmp_path / "profile.yml"
    profile.write_text(f"""
name: rotation-test
paths:
  - path: {root}/etc
  - path: {log}
    volatility: rotating
  - path: {log}/lastlog
    volatility: rewritten
{ONLY_FILES}""")
    return log, load_profile(profile)


def _freeze(profile: Profile) -> Manifest:
    return Manifest.from_bytes(take_snapshot(profile).to_bytes())


def _append(path: Path, text: str) -> None:
    with open(path, "a") as fh:
        fh.write(text)


def _explain(report: DriftReport) -> str:
    return "\n".join(f"{e.category} {e.key}: " + ", ".join(
        f"{c.attribute}: {c.old!r} -> {c.new!r}" for c in e.changes) for e in report.entries)


def _clean(manifest: Manifest, profile: Profile) -> None:
    report = verify(manifest, profile)
    assert report.is_clean, _explain(report)


def _drift(manifest: Manifest, profile: Profile, key: str, attribute: str) -> None:
    report = verify(manifest, profile)
    found = [c.attribute for e in report.entries if e.key == key for c in e.changes]
    assert any(attribute in a for a in found), _explain(report)
    assert report.exit_code & 4


def test_rotations_verify_clean(logs):
    """Rename + new file, delayed compression of the previous generation, deleting
    the oldest past the count, three times, with lines written in between; and
    copytruncate on another log; lastlog rewritten in place."""
    log, profile = logs
    m = _freeze(profile)
    _clean(m, profile)
    for day in range(3):
        _append(log / "syslog", f"day {day} line\n")
        rotate(log / "syslog", keep=4)
        _append(log / "syslog", f"day {day} after rotation\n")
        _clean(m, profile)
    _append(log / "auth.log", "login ok again\n")
    rotate(log / "auth.log", copytruncate=True, delaycompress=False)
    _append(log / "auth.log", "after copytruncate\n")
    with open(log / "lastlog", "r+b") as fh:
        fh.seek(0)
        fh.write(b"\x01\x02\x03\x04")
    _clean(m, profile)
    assert sorted(p.name for p in log.iterdir()) == [
        "auth.log", "auth.log.1.gz", "lastlog", "syslog", "syslog.1", "syslog.2.gz",
        "syslog.3.gz", "syslog.4.gz"]


def test_a_line_rewritten_in_a_rotated_away_log_is_drift(logs):
    log, profile = logs
    m = _freeze(profile)
    rotate(log / "syslog")
    text = (log / "syslog.1").read_text().replace("service started", "service stopped")
    (log / "syslog.1").write_text(text)
    _drift(m, profile, f"{log}/syslog.1", "rotation: recorded bytes of")


def test_a_line_rewritten_in_a_compressed_generation_is_drift(logs):
    log, profile = logs
    m = _freeze(profile)
    rotate(log / "syslog")
    path = log / "syslog.3.gz"  # was syslog.2.gz, recorded
    with gzip.open(path, "wb") as fh:
        fh.write(b"the day before, edited\n")
    _drift(m, profile, f"{log}/syslog.3.gz", "rotation: content of recorded")


def test_an_earlier_line_of_the_current_log_edited_is_drift(logs):
    """Append-only: the current log's recorded bytes must not change (no rotation)."""
    log, profile = logs
    m = _freeze(profile)
    (log / "syslog").write_text("boot\nservice STOPPED\nmore\n")
    _drift(m, profile, f"{log}/syslog", "content (growing: recorded bytes rewritten)")


def test_a_log_replaced_with_a_rotation_that_lost_its_bytes_is_drift(logs):
    """A fake rotation: the current log moved away edited (before compression)."""
    log, profile = logs
    m = _freeze(profile)
    rotate(log / "syslog")
    (log / "syslog.1").write_text("boot\n")  # the recorded line dropped
    _drift(m, profile, f"{log}/syslog.1", "rotation: recorded bytes of")


def test_a_deleted_generation_in_the_middle_is_drift(logs):
    log, profile = logs
    m = _freeze(profile)
    rotate(log / "syslog")
    (log / "syslog.2.gz").unlink()  # the recorded syslog.1, rotated and compressed
    _drift(m, profile, f"{log}/syslog.1", "recorded generation missing")


def test_the_oldest_generation_deleted_without_a_rotation_is_drift(logs):
    log, profile = logs
    m = _freeze(profile)
    (log / "syslog.2.gz").unlink()
    _drift(m, profile, f"{log}/syslog.2.gz", "recorded generation missing")


def test_an_injected_generation_is_drift(logs):
    log, profile = logs
    m = _freeze(profile)
    with gzip.open(log / "syslog.3.gz", "wb") as fh:
        fh.write(b"planted history\n")
    _drift(m, profile, f"{log}/syslog.3.gz", "generation with no recorded origin")


def test_a_new_log_made_world_readable_after_rotation_is_drift(logs):
    log, profile = logs
    m = _freeze(profile)
    rotate(log / "syslog")
    os.chmod(log / "syslog", 0o644)
    _drift(m, profile, f"{log}/syslog", "mode (new log after rotation)")


def test_rewritten_file_still_has_its_owner_and_mode_judged(logs):
    log, profile = logs
    m = _freeze(profile)
    os.chmod(log / "lastlog", 0o666)
    _drift(m, profile, f"{log}/lastlog", "mode")


def test_savelog_rotations_verify_clean_and_a_rewrite_is_drift(logs):
    """Process accounting on Debian is rotated by savelog: NAME.0 first."""
    log, profile = logs
    pacct = log / "pacct"
    pacct.write_bytes(b"\x03" * 64)
    savelog(pacct)
    pacct.write_bytes(b"\x03" * 128)
    m = _freeze(profile)
    for _ in range(3):
        with open(pacct, "ab") as fh:
            fh.write(b"\x03" * 64)
        savelog(pacct, keep=3)
        _clean(m, profile)
    assert sorted(p.name for p in log.iterdir() if p.name.startswith("pacct")) == [
        "pacct", "pacct.0", "pacct.1.gz", "pacct.2.gz"]
    with gzip.open(log / "pacct.2.gz", "wb") as fh:  # the recorded pacct, two rotations on
        fh.write(b"\x03" * 100)
    _drift(m, profile, f"{log}/pacct.2.gz", "rotation: recorded bytes of")


def auditd_rotate(log: Path) -> None:
    """One rotation as auditd makes it (max_log_file_action = rotate/keep_logs, or
    SIGUSR1): renames only, and every generation it rotates made read-only (0440)."""
    rotate(log, compress=False)
    for gen in log.parent.glob(f"{log.name}.*"):
        os.chmod(gen, 0o440)


def test_auditd_rotation_making_generations_read_only_verifies_clean(logs):
    """Found on the lab (routine day): audit.log 0640 -> audit.log.1 0440 was drift."""
    log, profile = logs
    audit = log / "audit.log"
    audit.write_text("type=DAEMON_START msg=audit(1.0:1)\n")
    os.chmod(audit, 0o640)
    (log / "audit.log.1").write_text("type=DAEMON_END msg=audit(0.5:9)\n")
    os.chmod(log / "audit.log.1", 0o440)
    m = _freeze(profile)
    _append(audit, "type=USER_LOGIN msg=audit(2.0:2)\n")
    auditd_rotate(audit)
    _append(audit, "type=USER_LOGIN msg=audit(3.0:3)\n")
    _clean(m, profile)


def test_a_rotated_generation_given_a_permission_bit_is_drift(logs):
    """Taking bits away on rotation is allowed; adding one (world-readable history) is not."""
    log, profile = logs
    m = _freeze(profile)
    rotate(log / "syslog")
    os.chmod(log / "syslog.2.gz", 0o644)  # the recorded syslog.1 (0640), rotated on
    _drift(m, profile, f"{log}/syslog.2.gz", "mode (rotated from")
