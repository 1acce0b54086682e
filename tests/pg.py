"""A throw-away PostgreSQL server for tests: the Debian package's binaries, a fresh
cluster in a temporary directory, listening on 127.0.0.1 on a free port.

Real server, real authentication (scram-sha-256 over TCP), so tests of wrong
credentials and of privileges are real too. When run as root (CI), the cluster is
owned by the `postgres` system user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "freeze_admin"
SUPERUSER_PASSWORD = "admin-test-only"


def pg_bindir() -> Path | None:
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(d, "initdb").exists():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    bindir: Path
    datadir: Path
    port: int
    host: str = "127.0.0.1"
    _run_as: list[str] = field(default_factory=list)

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER,
            password: str = SUPERUSER_PASSWORD) -> str:
        return (f"host={self.host} port={self.port} dbname={dbname} "
                f"user={user} password={password} connect_timeout=5")

    def env(self) -> dict[str, str]:
        """Environment for pg_dump/pg_restore/psql run by the tests."""
        e = dict(os.environ)
        e.update(PGHOST=self.host, PGPORT=str(self.port), PGUSER=SUPERUSER,
                 PGPASSWORD=SUPERUSER_PASSWORD)
        return e

    def createdb(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        subprocess.run(self._run_as + [str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
                                       "-m", "immediate", "stop"],
                       capture_output=True, check=False)


def start_server(base: Path | None = None) -> PgServer:
    bindir = pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="freeze-pg-", dir=base))
    run_as: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    datadir = root / "data"
    pwfile = root / "pw"
    pwfile.write_text(SUPERUSER_PASSWORD + "\n")
    if run_as:
        shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(datadir), "-U", SUPERUSER,
                             "--pwfile", str(pwfile), "--auth-local=trust",
                             "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
                   check=True, capture_output=True)
    port = _free_port()
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
            "-c max_prepared_transactions=10")
    subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(datadir), "-l",
                             str(root / "log"), "-o", opts, "-w", "start"],
                   check=True, capture_output=True)
    server = PgServer(bindir=bindir, datadir=datadir, port=port, _run_as=run_as)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection((server.host, port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return server


def start_standby(primary: PgServer, base: Path | None = None, slot: str | None = None) -> PgServer:
    """A streaming hot standby of `primary`: pg_basebackup -R (replication as the
    test superuser over 127.0.0.1, scram), started on its own free port; with
    `slot`, pg_basebackup creates that physical slot and the standby streams from it
    (as the lab's standbys do)."""
    root = Path(tempfile.mkdtemp(prefix="freeze-pg-standby-", dir=base))
    if primary._run_as:
        shutil.chown(root, "postgres", "postgres")
    datadir = root / "data"
    env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)
    subprocess.run(primary._run_as + ["env", f"PGPASSWORD={SUPERUSER_PASSWORD}",
                                      str(primary.bindir / "pg_basebackup"), "-D", str(datadir),
                                      "-h", primary.host, "-p", str(primary.port), "-U", SUPERUSER,
                                      "-X", "stream", "-R", "--checkpoint=fast"]
                   + (["--create-slot", f"--slot={slot}"] if slot else []),
                   check=True, capture_output=True, env=env)
    port = _free_port()
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
            "-c hot_standby=on -c fsync=off -c max_prepared_transactions=10")
    subprocess.run(primary._run_as + [str(primary.bindir / "pg_ctl"), "-D", str(datadir), "-l",
                                      str(root / "log"), "-o", opts, "-w", "start"],
                   check=True, capture_output=True)
    return PgServer(bindir=primary.bindir, datadir=datadir, port=port, _run_as=primary._run_as)


def promote(server: PgServer) -> None:
    """End recovery: the standby becomes an independent read-write server."""
    subprocess.run(server._run_as + [str(server.bindir / "pg_ctl"), "-D", str(server.datadir),
                                     "-w", "promote"], check=True, capture_output=True)
