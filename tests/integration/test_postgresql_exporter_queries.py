"""The replication queries postgresql_server gives prometheus-postgres-exporter
(templates/postgres-exporter-queries.yml.j2, rendered by Ansible), run as the
exporter runs them: as a login with pg_monitor only, on a REAL primary with a
streaming hot standby that uses a physical slot (tests/pg.py), as in the lab.

Streaming: one standby, its slot streaming, lag back to 0 bytes after a write.
Disconnected: the count drops to 0 but the slot keeps its series (streaming 0,
no time lag, the bytes it misses growing), which is what the alerts compare.
Without pg_monitor the same queries cannot see the standby's state at all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import yaml

from tests.pg import PgServer, pg_bindir, start_server, start_standby
from tests.unit.role_template import ANSIBLE_PLAYBOOK, render_role_template

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook not in this venv")]

SLOT = "standby_results_tx"
MONITOR = ("exporter_test", "exporter-test-only")  # pg_monitor only, like the role's login
PLAIN = ("plain_test", "plain-test-only")  # no pg_monitor: what the exporter would see without it


@pytest.fixture(scope="module")
def queries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    text = render_role_template(tmp_path_factory.mktemp("queries"), "postgresql_server",
                                "postgres-exporter-queries.yml.j2", os_vars=True,
                                postgresql_server_exporter_enabled=True)
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[PgServer, PgServer]]:
    if pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    primary = start_server()
    with psycopg.connect(primary.dsn(), autocommit=True) as c:
        c.execute(f"CREATE ROLE {MONITOR[0]} LOGIN PASSWORD '{MONITOR[1]}' IN ROLE pg_monitor")
        c.execute(f"CREATE ROLE {PLAIN[0]} LOGIN PASSWORD '{PLAIN[1]}'")
        c.execute("CREATE TABLE votes (station text, n int)")
    standby = start_standby(primary, slot=SLOT)
    yield primary, standby
    standby.stop()
    primary.stop()


def _scrape(server: PgServer, queries: dict[str, Any], login: tuple[str, str] = MONITOR) -> dict[str, Any]:
    """Each namespace's rows as the exporter names its series: {namespace_column: value}
    per row, the label (slot_name) as the key of the per-standby namespace."""
    out: dict[str, Any] = {}
    with psycopg.connect(server.dsn(user=login[0], password=login[1]), autocommit=True) as c:
        for ns, q in queries.items():
            cur = c.execute(q["query"])
            cols = [d.name for d in cur.description or []]
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
            if ns == "pg_replication_standby":
                out[ns] = {r["slot_name"]: {f"{ns}_{k}": v for k, v in r.items() if k != "slot_name"} for r in rows}
            else:
                assert len(rows) == 1, rows
                out.update({f"{ns}_{k}": v for k, v in rows[0].items()})
    return out


def _write(primary: PgServer, rows: int) -> None:
    with psycopg.connect(primary.dsn(), autocommit=True) as c:
        c.execute("SET synchronous_commit = on")  # the throw-away server defaults to off
        c.execute("INSERT INTO votes SELECT 'station-' || s, s FROM generate_series(1, %s) s", (rows,))


def _until(check: Any, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_one_standby_streams_and_its_lag_returns_to_zero_after_a_write(pair, queries) -> None:
    primary, _ = pair
    assert _until(lambda: _scrape(primary, queries)["pg_replication_primary_streaming_standbys"] == 1)
    _write(primary, 5000)
    # caught up: nothing written on the primary that the standby has not replayed
    assert _until(lambda: _scrape(primary, queries)["pg_replication_standby"][SLOT]
                  ["pg_replication_standby_replay_lag_bytes"] == 0)
    scraped = _scrape(primary, queries)
    standby = scraped["pg_replication_standby"][SLOT]
    assert scraped["pg_replication_primary_connected_standbys"] == 1
    assert standby["pg_replication_standby_streaming"] == 1
    lag = standby["pg_replication_standby_replay_lag_seconds"]
    assert lag is not None and 0 <= float(lag) < 5, lag


def test_without_pg_monitor_the_standby_is_invisible(pair, queries) -> None:
    """Why the exporter's login needs pg_monitor: pg_stat_replication hides another
    role's WAL sender state, so the same query would say nothing streams."""
    primary, _ = pair
    scraped = _scrape(primary, queries, login=PLAIN)
    assert scraped["pg_replication_primary_streaming_standbys"] == 0
    assert scraped["pg_replication_primary_connected_standbys"] == 1


def test_a_disconnected_standby_keeps_its_series_with_growing_bytes(pair, queries) -> None:
    primary, standby = pair
    standby.stop()
    assert _until(lambda: _scrape(primary, queries)["pg_replication_primary_streaming_standbys"] == 0)
    before = _scrape(primary, queries)["pg_replication_standby"][SLOT]
    _write(primary, 20000)
    after = _scrape(primary, queries)
    slot = after["pg_replication_standby"][SLOT]
    assert after["pg_replication_primary_connected_standbys"] == 0
    assert slot["pg_replication_standby_streaming"] == 0
    assert slot["pg_replication_standby_replay_lag_seconds"] is None  # NaN in the exporter: nothing to measure
    assert slot["pg_replication_standby_replay_lag_bytes"] > before["pg_replication_standby_replay_lag_bytes"]
    assert slot["pg_replication_standby_replay_lag_bytes"] > 100_000

