import psycopg
import pytest

pytestmark = pytest.mark.postgres


def test_server_rejects_a_wrong_password(pg_server):
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_server.dsn(password="wrong")).close()


def test_fresh_database_is_empty(pg_db):
    with psycopg.connect(pg_db) as c:
        n = c.execute("select count(*) from pg_tables where schemaname='public'").fetchone()[0]
    assert n == 0
