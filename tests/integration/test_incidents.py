"""The incident record and the monitoring report, through the real CLI (issue 19).

44 alerts as the election night had: 42 in Alertmanager's `/api/v2/alerts` JSON
(the format the lab's Alertmanager serves; `instance` is the inventory host
name, as roles/monitoring_server labels it) and 2 noted by hand in the simple
YAML list. Each is acknowledged and answered; one led to a real witnessed
intervention, whose signed record's digest the answer keeps. The report is
rendered to HTML and PDF, its digest journaled, and page 1 saved as
artifacts/monitoring-report-page-1.png.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from freeze.errors import EXIT_OK
from tests.integration.test_ceremony import PASS_ENV, freeze, needs_tools
from tests.integration.test_intervention import make_freeze

pytestmark = needs_tools

HOSTS = ("count-db", "count-app", "results-tx")
KINDS = ("HostDown", "ResultsSiteProbeFailing", "DiskFilling", "ClockSkew", "FrozenStateDrifted",
         "MonitoringTargetDown")


def alertmanager_alerts(n: int) -> list[dict[str, object]]:
    out = []
    for i in range(n):
        host, kind = HOSTS[i % 3], KINDS[(i * 5 + i // 3) % len(KINDS)]
        start = f"2026-11-29T{19 + i // 20:02d}:{(i * 3) % 60:02d}:07.123456789Z"
        labels = {"alertname": kind, "instance": host, "job": "node",
                  "severity": "critical" if i % 4 == 0 else "warning"}
        out.append({
            "annotations": {"summary": f"{kind} on {host}", "description": f"fired by rule {kind}"},
            "endsAt": f"2026-11-29T{19 + i // 20:02d}:{(i * 3 + 2) % 60:02d}:07Z",
            "fingerprint": hashlib.sha256(f"{kind}{host}{i}".encode()).hexdigest()[:16],
            "receivers": [{"name": "directorate"}],
            "startsAt": start,
            "status": {"inhibitedBy": [], "silencedBy": [], "state": "suppressed" if i % 7 == 0 else "active"},
            "updatedAt": start,
            "generatorURL": "http://monitor:9090/graph?g0.expr=up",
            "labels": labels,
        })
    return out


def test_incident_record_and_monitoring_report(tmp_path: Path) -> None:
    f = make_freeze(tmp_path / "freeze")
    pool = f.tree / "etc" / "app" / "pool.conf"
    plan = f.plan("db-connections", commands=[f"printf 'max_connections = 200\\n' > {pool}"],
                  declared=[f"file:{pool}"])
    freeze("intervention", "run", plan, "--passphrase-env", PASS_ENV)
    record_dir = next(f.records.glob("001-db-connections"))
    f.sign_and_close(plan, record_dir)

    am = tmp_path / "alerts.json"
    am.write_text(json.dumps(alertmanager_alerts(42)))
    by_hand = tmp_path / "by-hand.yml"
    by_hand.write_text("- {alert: ResultsSiteSlow, host: count-app, severity: warning,"
                       " started: '2026-11-29T21:40:00Z', summary: 'p99 above 800 ms (reported by phone)'}\n"
                       "- {alert: DatabaseConnectionsHigh, host: count-db, severity: critical,"
                       " started: '2026-11-29T21:55:00Z', ended: '2026-11-29T22:31:00Z',"
                       " summary: 'connections at 95% of max_connections'}\n")
    record = tmp_path / "incidents.json"
    _, out, _ = freeze("incidents", "import", record, am, "--election", "2026-general")
    assert "42 new incident(s) from 42 alert(s)" in out
    _, out, _ = freeze("incidents", "import", record, am)  # the same API answer again adds nothing
    assert "0 new incident(s)" in out
    _, out, _ = freeze("incidents", "import", record, by_hand, "--format", "yaml")
    assert "2 new incident(s)" in out and "44 in all" in out

    data = json.loads(record.read_text())
    assert {i["host"] for i in data["incidents"]} == set(HOSTS)
    assert data["incidents"][0]["started"] == "2026-11-29T19:00:07Z"  # nanoseconds and Z normalised
    statuses = ("explained", "false-positive", "escalated", "explained")
    for n, inc in enumerate(data["incidents"]):
        freeze("incidents", "ack", record, inc["id"], "--by", "IT on duty",
               "--at", inc["started"].replace(":07Z", ":09Z").replace(":00Z", ":02Z"))
        if inc["kind"] == "DatabaseConnectionsHigh":
            freeze("incidents", "answer", record, inc["id"], "--status", "led-to-intervention",
                   "--explanation", "max_connections raised from 100 to 200, witnessed", "--by", "Alice A.",
                   "--intervention", "db-connections", "--records", f.records, "--at", "2026-11-29T22:00:00Z")
        else:
            freeze("incidents", "answer", record, inc["fingerprint"], "--status", statuses[n % 4],
                   "--explanation", f"{inc['kind']}: {statuses[n % 4]} by the directorate", "--by", "Alice A.",
                   "--at", "2026-11-29T23:00:00Z")
    # an answer naming an intervention that has no record is refused
    code, _, err = freeze("incidents", "answer", record, "I-0001", "--status", "led-to-intervention",
                          "--explanation", "x", "--by", "A", "--intervention", "nope", "--records", f.records,
                          expect=None)
    assert code == 65 and "no intervention record 'nope'" in err

    out_dir = tmp_path / "monitoring"
    pdf = pytest.importorskip("weasyprint") is not None
    args = ["incidents", "report", record, "-d", out_dir, "--journal", f.journal, "--actor", "alice"]
    _, out, _ = freeze(*args, *([] if pdf else ["--no-pdf"]))
    assert "44 incident(s), 44 answered, 0 unanswered" in out
    report = json.loads((out_dir / "monitoring-report.json").read_bytes())
    assert sum(r["count"] for r in report["per_host_kind"]) == 44
    assert report["per_answer"]["led-to-intervention"] == 1
    linked = next(i for i in report["incidents"] if i["answer"]["status"] == "led-to-intervention")
    assert linked["answer"]["intervention"]["record_sha256"] == hashlib.sha256(
        (record_dir / "record.json").read_bytes()).hexdigest()
    digest = hashlib.sha256((out_dir / "monitoring-report.json").read_bytes()).hexdigest()
    assert f"report sha256:{digest}" in out
    html = (out_dir / "monitoring-report.html").read_text()
    assert "44 incident(s)" in html and "none without an answer" in html
    assert " ".join(digest[i:i + 8] for i in range(0, 64, 8)) in html
    from freeze.evidence.journal import Journal

    last = json.loads(Journal.open(f.journal).entries()[-1])
    assert last["event"] == "monitoring-report" and last["subject"]["sha256"] == digest
    if pdf:
        from tests.artifacts import pdf_page_png

        png = pdf_page_png(out_dir / "monitoring-report.pdf", "monitoring-report-page-1")
        assert png is None or png.stat().st_size > 10_000

    # the report is in the journal: the walk checks the file given in RECORDS/monitoring/
    (f.records / "monitoring").mkdir()
    (f.records / "monitoring" / "monitoring-report.json").write_bytes((out_dir / "monitoring-report.json").read_bytes())
    note = tmp_path / "cp.note"
    freeze("journal", "checkpoint", f.journal, "--key", f.keys["journal-log"], "--passphrase-env", PASS_ENV,
           "-o", note)
    freeze("journal", "cosign", note, "--key", f.keys["dave"], "--as", "dave", "--passphrase-env", PASS_ENV)
    freeze("journal", "store", f.journal, note)
    from freeze.intervention.run import export_journal

    export_journal(Journal.open(f.journal), f.records)
    _, out, _ = freeze("verify-evidence", f.bundle, "--root", f.root, "--interventions", f.records, expect=EXIT_OK)
    assert "monitoring report: monitoring-report.json sha256:" + digest in out and "44 incident(s), 0 unanswered" in out
    # an edited report no longer matches its journaled digest
    (f.records / "monitoring" / "monitoring-report.json").write_bytes(b"{}")
    _, out, _ = freeze("verify-evidence", f.bundle, "--root", f.root, "--interventions", f.records, expect=8)
    assert "report edited" in out


def test_malformed_alerts_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "alerts.json"
    for content, message in ((b'{"alerts": []}', "expected Alertmanager's JSON list"),
                             (b'[{"labels": {"instance": "db"}, "startsAt": "2026-11-29T20:00:00Z"}]',
                              "labels.alertname missing"),
                             (b'[{"labels": {"alertname": "X"}, "startsAt": "yesterday"}]', "not a time"),
                             (b"not json", "not JSON")):
        bad.write_bytes(content)
        code, _, err = freeze("incidents", "import", tmp_path / "i.json", bad, expect=None)
        assert code == 65 and message in err and len(err.strip().splitlines()) == 1
