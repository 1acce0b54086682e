"""The intervention plan, the declared/undeclared split and alert parsing: pure data, real files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from freeze.drift import CHANGED, DriftEntry, DriftReport
from freeze.errors import InputError, VerificationError
from freeze.intervention.incidents import IncidentRecord, parse_alertmanager, parse_simple
from freeze.intervention.plan import load_plan, parse_declared
from freeze.intervention.record import check_record_drift, split_drift

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "freeze" / "intervention" / "intervention-plan.example.yml"


def test_the_documented_example_plan_validates(tmp_path: Path) -> None:
    """Every file the example names, created empty beside a copy: the example itself has no error."""
    plan = tmp_path / "intervention-plan.yml"
    shutil.copy(EXAMPLE, plan)
    data = yaml.safe_load(EXAMPLE.read_text())
    files = [data["root"], data["journal"], data["log_key"], data["profile"], data["reference"]["envelope"],
             data["reference"]["fleet"], data["change"]["playbook"], data["change"]["inventory"]]
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).touch()
    (tmp_path / data["reference"]["manifests"]).mkdir(parents=True, exist_ok=True)
    p = load_plan(plan)
    assert p.id == "results-db-scale-up-1" and p.change.kind == "playbook"
    assert [h.name for h in p.hosts] == ["results-tx"] and p.hosts[0].collect == "ssh"
    assert p.signers == ("alice", "carol", "dave")
    assert [w.describe() for w in p.present][-1] == "Jane Roe (press, Daily Example)"
    assert {d.kind for d in p.declared} == {"file", "db_setting"}


def test_every_problem_at_once_in_one_line(tmp_path: Path) -> None:
    plan = tmp_path / "p.yml"
    plan.write_text("intervention: 1\nid: 'bad id'\nhosts: []\npresent: []\ndeclared: [x]\nchange: {}\nextra: 1\n")
    with pytest.raises(InputError) as exc:
        load_plan(plan)
    text = str(exc.value)
    assert "\n" not in text
    for field in ("extra: unknown field", "id: letters, digits", "procedure:", "reason:", "root:", "journal:"):
        assert field in text, field
    assert re.search(r"\(and \d+ more\)", text)  # more than eight problems: counted, not dropped
    plan.write_text("intervention: 1\nid: ok\nprocedure: p\nreason: r\nroot: r\njournal: j\nlog_key: k\n"
                    "records: rec\nprofile: p\nhosts: []\npresent: []\ndeclared: [x]\nchange: {}\n")
    for name in ("r", "j", "k", "p"):
        (tmp_path / name).touch()
    with pytest.raises(InputError) as exc:
        load_plan(plan)
    for field in ("reference:", "hosts:", "present:", "declared[0]:", "change:"):
        assert field in str(exc.value), field


def test_split_drift_declared_and_undeclared() -> None:
    report = DriftReport(entries=[
        DriftEntry(CHANGED, "file", "/etc/pg/conf.d/scale.conf", "files"),
        DriftEntry(CHANGED, "file", "/etc/pg/pg_hba.conf", "files"),
        DriftEntry(CHANGED, "db_setting", "max_connections", "db_settings"),
    ])
    declared = [parse_declared("file:/etc/pg/conf.d/*"), parse_declared("db_setting:max_*")]
    split = split_drift(report, declared)
    assert [i["key"] for i in split.declared] == ["/etc/pg/conf.d/scale.conf", "max_connections"]
    assert split.declared[0]["declared_by"] == "file:/etc/pg/conf.d/*"
    assert [i["key"] for i in split.undeclared] == ["/etc/pg/pg_hba.conf"]
    # a record that moved the undeclared change into `declared` (or dropped it) does not match the manifests
    forged = {"declared": split.declared + split.undeclared, "undeclared": []}
    with pytest.raises(VerificationError, match="declared changes differ from the manifests"):
        check_record_drift("db", forged, report, declared)
    check_record_drift("db", {"declared": split.declared, "undeclared": split.undeclared}, report, declared)


def test_alertmanager_v2_alerts_and_the_simple_list(tmp_path: Path) -> None:
    alerts = parse_alertmanager([
        {"labels": {"alertname": "HostDown", "instance": "count-db", "severity": "critical"},
         "annotations": {"summary": "count-db down"}, "startsAt": "2026-11-29T20:00:00.5Z",
         "endsAt": "2026-11-29T20:05:00Z", "fingerprint": "a1", "status": {"state": "resolved"}},
        {"labels": {"alertname": "ResultsSiteProbeFailing", "instance": "https://results.example:443/x"},
         "startsAt": "2026-11-29T21:00:00+01:00", "endsAt": "0001-01-01T00:00:00Z", "status": {"state": "active"}},
        {"labels": {"alertname": "NodeDown", "instance": "10.20.0.11:9100"}, "startsAt": "2026-11-29T21:00:00Z"},
    ], "api")
    assert [(a.kind, a.host, a.started, a.ended) for a in alerts] == [
        ("HostDown", "count-db", "2026-11-29T20:00:00Z", "2026-11-29T20:05:00Z"),
        ("ResultsSiteProbeFailing", "results.example", "2026-11-29T20:00:00Z", None),
        ("NodeDown", "10.20.0.11", "2026-11-29T21:00:00Z", None),
    ]
    simple = parse_simple([{"alert": "Slow", "host": "count-app", "started": "2026-11-29T22:00:00Z"}], "y")
    record = IncidentRecord.open(tmp_path / "i.json", create=True, election="E")
    assert record.add(alerts + simple, source="t") == 4
    assert record.add(alerts, source="t") == 0
    with pytest.raises(InputError, match="--intervention ID goes with"):
        record.answer("I-0001", status="explained", explanation="x", by="a", at="2026-11-29T22:00:00Z",
                      intervention="iv-1")
    with pytest.raises(InputError, match="explanation"):
        record.answer("I-0001", status="explained", explanation=" ", by="a", at="2026-11-29T22:00:00Z")
    inc = record.answer("a1", status="false-positive", explanation="probe during reload", by="IT",
                        at="2026-11-29T22:00:00Z")
    assert inc["acknowledged"] == {"by": "IT", "at": "2026-11-29T22:00:00Z"}  # an answer acknowledges too
    record.save()
    assert IncidentRecord.open(tmp_path / "i.json").find("I-0001")["answer"]["status"] == "false-positive"
    with pytest.raises(InputError, match="unknown field"):
        parse_simple([{"alert": "X", "host": "h", "started": "2026-11-29T22:00:00Z", "hots": 1}], "y")


def test_a_record_that_drops_an_undeclared_change_does_not_match() -> None:
    report = DriftReport(entries=[DriftEntry(CHANGED, "file", "/etc/a", "files"),
                                  DriftEntry(CHANGED, "file", "/etc/b", "files")])
    declared = [parse_declared("file:/etc/a")]
    split = split_drift(report, declared)
    with pytest.raises(VerificationError, match="undeclared changes differ from the manifests: the manifests show "
                                                "changed file /etc/b which the record does not list"):
        check_record_drift("db", {"declared": split.declared, "undeclared": []}, report, declared)
