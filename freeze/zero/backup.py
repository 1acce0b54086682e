"""Backup before the zero: `pg_dump -Fc` of the exact snapshot the zero starts
from, proven restorable into a scratch database, then sha256 + fsync.

Secrets: pg_dump and pg_restore get the connection through PG* environment
variables and a private 0600 PGPASSFILE, never through argv, so the password
never appears in `ps`, /proc/<pid>/cmdline or an error message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from freeze.durable import fsync_dir, fsync_file
from freeze.errors import InputError, RefusedError, UnavailableError
from freeze.zero import db
from freeze.zero.faults import crash_point, die_with_parent

SCRATCH_PREFIX = "freeze_verify_"

_ENV_OF = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
    "user": "PGUSER", "passfile": "PGPASSFILE", "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL", "sslsni": "PGSSLSNI", "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS", "application_name": "PGAPPNAME", "service": "PGSERVICE",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "gssencmode": "PGGSSENCMODE",
    "channel_binding": "PGCHANNELBINDING", "krbsrvname": "PGKRBSRVNAME",
    "require_auth": "PGREQUIREAUTH", "sslcompression": "PGSSLCOMPRESSION",
}


def _passfile_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


@contextmanager
def libpq_environment(dsn: str) -> Iterator[dict[str, str]]:
    """Environment for libpq tools equivalent to `dsn`; the password goes into a
    0600 PGPASSFILE in a private directory removed afterwards."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise InputError("database DSN is malformed (not shown: it may hold a password)") from None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    tmp = tempfile.mkdtemp(prefix="freeze-pg-")
    try:
        os.chmod(tmp, 0o700)
        for key, value in params.items():
            if key == "password":
                continue
            if key not in _ENV_OF:
                raise InputError(f"database DSN parameter {key!r} is not supported for pg_dump")
            env[_ENV_OF[key]] = str(value)
        if params.get("password") is not None:
            pf = Path(tmp, "pgpass")
            fd = os.open(pf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(f"*:*:*:*:{_passfile_escape(str(params['password']))}\n")
            env["PGPASSFILE"] = str(pf)
        env["PGAPPNAME"] = env.get("PGAPPNAME", "freeze-zero")
        yield env
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def find_tool(name: str, bindir: str | None) -> str:
    if bindir:
        path = Path(bindir, name)
        if not os.access(path, os.X_OK):
            raise UnavailableError(f"{name} not found in zero.backup.pg_bindir {bindir}")
        return str(path)
    found = shutil.which(name)
    if not found:
        raise UnavailableError(f"{name} not found in PATH (set zero.backup.pg_bindir)")
    return found


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no error message"


def _run(argv: list[str], env: dict[str, str], crash_step: str) -> subprocess.CompletedProcess[bytes]:
    with subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, preexec_fn=die_with_parent) as proc:
        crash_point(crash_step)
        out, err = proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@dataclass(frozen=True)
class BackupResult:
    path: str
    sha256: str
    size: int
    pg_dump: str
    tables: int
    rows: int
    scratch_database: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def dump(env: dict[str, str], snapshot: str, dest: Path, bindir: str | None) -> str:
    """pg_dump -Fc of exactly `snapshot` (exported by the zero transaction)."""
    tool = find_tool("pg_dump", bindir)
    version = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.strip()
    # The dump is a full copy of the counting database: private to the operator,
    # whatever the umask. A directory made here is 0700; the file is created 0600
    # before pg_dump opens it (pg_dump keeps an existing file's mode).
    if not dest.parent.is_dir():
        dest.parent.mkdir(mode=0o700, parents=True)
        os.chmod(dest.parent, 0o700)  # mkdir's mode is masked by the umask
    os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    os.chmod(dest, 0o600)
    proc = _run([tool, "--format=custom", "--no-password", f"--snapshot={snapshot}",
                 f"--file={dest}"], env, "backup-running")
    if proc.returncode != 0:
        raise RefusedError(f"backup failed, nothing was changed: pg_dump: "
                           f"{_last_line(proc.stderr.decode(errors='replace'))}")
    fsync_file(dest)
    fsync_dir(dest.parent)
    return version


def drop_scratch(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def scratch_name(source_oid: int, run_id: str) -> str:
    """Scratch databases carry the source database's OID: a run only ever cleans
    up after crashed runs on the same database (which the advisory lock makes
    exclusive), never a zero of another database on the same server."""
    return f"{SCRATCH_PREFIX}{source_oid}_{run_id.replace('-', '')[:16]}"


def drop_stale_scratch(admin: psycopg.Connection, source_oid: int) -> list[str]:
    """Scratch databases left by a crashed run on this database."""
    prefix = f"{SCRATCH_PREFIX}{source_oid}_".replace("_", r"\_")
    names = [r[0] for r in admin.execute(
        "SELECT datname FROM pg_database WHERE datname LIKE %s", [prefix + "%"]).fetchall()]
    for n in names:
        drop_scratch(admin, n)
    return names


def verify_restore(dsn: str, env: dict[str, str], dump_path: Path, bindir: str | None,
                   scratch: str, expected: dict[str, db.TableDigest],
                   expected_sequences: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """Restore `dump_path` into a fresh scratch database and compare every table's
    row count and content hash, and every sequence, with the source snapshot.

    Returns (tables, rows). Raises RefusedError if anything differs.
    """
    tool = find_tool("pg_restore", bindir)
    admin = db.connect(dsn)
    try:
        enc = admin.execute("SELECT pg_encoding_to_char(encoding), datcollate, datctype "
                            "FROM pg_database WHERE datname = current_database()").fetchone()
        assert enc is not None  # the database we are connected to has its pg_database row
        try:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} "
                                  "LC_CTYPE {}").format(sql.Identifier(scratch), sql.Literal(enc[0]),
                                                        sql.Literal(enc[1]), sql.Literal(enc[2])))
        except psycopg.errors.InsufficientPrivilege:
            raise RefusedError("cannot verify the backup: this role may not create the scratch "
                               "database (grant CREATEDB); nothing was changed") from None
        try:
            renv = dict(env, PGDATABASE=scratch)
            proc = _run([tool, "--exit-on-error", "--no-owner", "--no-privileges", "--no-password",
                         f"--dbname={scratch}", str(dump_path)], renv, "restore-running")
            if proc.returncode != 0:
                raise RefusedError(f"backup does not restore, nothing was changed: pg_restore: "
                                   f"{_last_line(proc.stderr.decode(errors='replace'))}")
            with db.connect(dsn, dbname=scratch, autocommit=False) as sc:
                got = db.table_digests(sc)
                got_seq = db.sequence_states(sc)
            for name in sorted(set(expected) | set(got)):
                if name not in got:
                    raise RefusedError(f"backup does not restore table {name}; nothing was changed")
                if name not in expected:
                    raise RefusedError(f"backup restores unexpected table {name}; nothing was changed")
                if got[name] != expected[name]:
                    raise RefusedError(
                        f"restored backup differs from the database in table {name} "
                        f"({got[name].rows} rows restored, {expected[name].rows} in the database); "
                        f"nothing was changed")
            if got_seq != expected_sequences:
                diff = sorted(k for k in set(got_seq) | set(expected_sequences)
                              if got_seq.get(k) != expected_sequences.get(k))
                raise RefusedError(f"restored backup differs in sequence {diff[0]}; nothing was changed")
            return len(got), sum(d.rows for d in got.values())
        finally:
            drop_scratch(admin, scratch)
    finally:
        admin.close()
