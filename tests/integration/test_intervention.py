"""Witnessed interventions on real files, through the real `freeze` CLI (issue 19).

A small freeze first: a directory tree stands for a frozen host (`collect:
local`), its manifest is taken with `freeze snapshot`, attested, signed by the
directorate, an auditor and an observer, journaled with a cosigned checkpoint
and bundled. Then interventions change real files through `freeze intervention`
and the auditor walks the journal with `freeze verify-evidence --interventions`.
No mocks: real keys (passphrase-protected), real signatures, the real journal.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from freeze.errors import EXIT_OK, EXIT_REFUSED, EXIT_VERIFY_FAILED
from tests.integration.test_ceremony import PASS_ENV, PASSPHRASE, freeze, freeze_proc, needs_tools
from tests.profiles import ONLY_FILES

pytestmark = needs_tools

ORIGIN = "freeze.example/2026-general/interventions"


@dataclass
class Frozen:
    dir: Path
    tree: Path
    profile: Path
    root: Path
    journal: Path
    bundle: Path
    envelope: Path
    records: Path
    keys: dict[str, Path]

    def plan(self, name: str, *, commands: list[str], declared: list[str], **extra: object) -> Path:
        plan = {
            "intervention": 1,
            "id": name,
            "procedure": "scale-up",
            "reason": "more connections for the results website's database",
            "root": str(self.root), "journal": str(self.journal),
            "log_key": str(self.keys["journal-log"]), "records": str(self.records),
            "reference": {"envelope": str(self.envelope), "manifests": str(self.dir / "manifests")},
            "profile": str(self.profile),
            "hosts": {"local": {"collect": "local"}},
            "present": [{"person": "alice"}, {"person": "carol"}, {"person": "dave", "organisation": "Party A"},
                        {"name": "Jane Roe", "role": "press", "organisation": "Daily Example"}],
            "declared": declared,
            "change": {"commands": commands},
            "operator": "alice",
            **extra,
        }
        path = self.dir / f"{name}.yml"
        path.write_text(json.dumps(plan))  # JSON is YAML
        return path

    def sign_and_close(self, plan: Path, record_dir: Path, signers: tuple[str, ...] = ("alice", "carol", "dave"),
                       close: int = EXIT_OK) -> str:
        for who in signers:
            freeze("sign", record_dir / "record.dsse.json", "--key", self.keys[who], "--passphrase-env", PASS_ENV,
                   "--root", self.root, "--document", record_dir / "record.json")
        freeze("journal", "cosign", record_dir / "checkpoint.note", "--key", self.keys["dave"], "--as", "dave",
               "--passphrase-env", PASS_ENV)
        _, out, err = freeze("intervention", "close", plan, expect=close)
        return out + err


def make_freeze(base: Path) -> Frozen:
    os.environ[PASS_ENV] = PASSPHRASE
    base.mkdir(parents=True, exist_ok=True)
    keys = {}
    for who in ("alice", "bob", "carol", "dave", "journal-log"):
        keys[who] = base / f"{who}.pem"
        freeze("keygen", keys[who], "--passphrase-env", PASS_ENV)
    tree = base / "host"
    (tree / "etc" / "app").mkdir(parents=True)
    (tree / "opt").mkdir()
    (tree / "etc" / "app" / "pool.conf").write_text("max_connections = 100\n")
    (tree / "etc" / "app" / "app.conf").write_text("listen = 8080\n")
    (tree / "opt" / "count").write_text("#!/bin/sh\necho count\n")
    profile = base / "profile.yml"
    profile.write_text(f"name: intervention-test\npaths:\n  - path: {tree}\n{ONLY_FILES}")
    (base / "manifests").mkdir()
    manifest = base / "manifests" / "local.manifest.json"
    freeze("snapshot", "-p", profile, "-o", manifest)

    spec = {
        "election": "2026-general", "ceremony": "freeze-1", "expires": "2099-01-01T00:00:00Z",
        "people": {
            "alice": {"role": "directorate", "name": "Alice A.", "organisation": "IT directorate",
                      "keys": ["alice.pub.pem"]},
            "bob": {"role": "directorate", "name": "Bob B.", "organisation": "IT directorate",
                    "keys": ["bob.pub.pem"]},
            "carol": {"role": "auditor", "name": "Carol C.", "organisation": "Court of Audit",
                      "keys": ["carol.pub.pem"]},
            "dave": {"role": "observer", "name": "Dave D.", "keys": ["dave.pub.pem"]},
        },
        "thresholds": {
            "root": {"directorate": 2},
            "manifest": {"directorate": 2, "auditor": 1},
            "intervention": {"directorate": 1, "auditor": 1, "observer": 1},
            "checkpoint": {"observer": 1},
        },
        "journal": {"origin": ORIGIN, "log_key": "journal-log.pub.pem"},
    }
    (base / "root-spec.json").write_text(json.dumps(spec))
    root = base / "root.json"
    freeze("root", "init", base / "root-spec.json", "-o", root)
    for who in ("alice", "bob"):
        freeze("root", "sign", root, "--key", keys[who], "--passphrase-env", PASS_ENV)
    journal = base / "journal.db"
    freeze("journal", "init", journal, "--root", root)
    freeze("journal", "append", journal, "--actor", "alice", "--event", "ceremony-open", "--file", root)
    env = base / "manifest.dsse.json"
    freeze("attest", "--type", "manifest", manifest, "--root", root, "-o", env, "--journal", journal)
    for who in ("alice", "bob", "carol"):
        freeze("sign", env, "--key", keys[who], "--passphrase-env", PASS_ENV, "--root", root)
    note = base / "checkpoint.note"
    freeze("journal", "checkpoint", journal, "--key", keys["journal-log"], "--passphrase-env", PASS_ENV, "-o", note)
    freeze("journal", "cosign", note, "--key", keys["dave"], "--as", "dave", "--passphrase-env", PASS_ENV)
    freeze("journal", "store", journal, note)
    bundle = base / "evidence"
    freeze("bundle", "create", bundle, "--root", root, "--statement", f"manifest={env}:{manifest}",
           "--journal", journal)
    return Frozen(base, tree, profile, root, journal, bundle, env, base / "interventions", keys)


@pytest.fixture
def frozen(tmp_path: Path) -> Frozen:
    return make_freeze(tmp_path)


def run(plan: Path, expect: int | None = EXIT_OK) -> tuple[int, str, str]:
    return freeze("intervention", "run", plan, "--passphrase-env", PASS_ENV, expect=expect)


def walk(f: Frozen, records: Path | None = None, expect: int = EXIT_OK) -> str:
    _, out, err = freeze("verify-evidence", f.bundle, "--root", f.root, "--interventions", records or f.records,
                         expect=expect)
    return out + err


def test_intervention_on_real_files_verifies_clean_afterwards_and_outside_change_is_drift(frozen: Frozen) -> None:
    f = frozen
    pool = f.tree / "etc" / "app" / "pool.conf"
    # the monitoring report of the evening so far is journaled before the change (the chain has no gap)
    alerts = f.dir / "alerts.yml"
    alerts.write_text("- {alert: HostDown, host: count-db, started: '2026-11-29T20:01:00Z'}\n")
    freeze("incidents", "import", f.dir / "incidents.json", alerts, "--format", "yaml", "--election", "2026-general")
    freeze("incidents", "answer", f.dir / "incidents.json", "I-0001", "--status", "explained",
           "--explanation", "planned reboot", "--by", "Alice A.")
    freeze("incidents", "report", f.dir / "incidents.json", "-d", f.records / "monitoring", "--no-pdf",
           "--journal", f.journal, "--actor", "alice")

    plan = f.plan("pool-200", commands=[f"printf 'max_connections = 200\\n' > {pool}", "echo resized"],
                  declared=[f"file:{pool}"])
    _, out, _ = run(plan)
    assert "1 declared change(s), nothing undeclared" in out
    record_dir = next(f.records.glob("001-pool-200"))
    record = json.loads((record_dir / "record.json").read_bytes())
    assert record["verdict"] == "as-declared"
    assert [i["key"] for i in record["hosts"]["local"]["drift"]["declared"]] == [str(pool)]
    assert record["hosts"]["local"]["drift"]["undeclared"] == []
    assert {w["name"] for w in record["present"]} == {"Alice A.", "Carol C.", "Dave D.", "Jane Roe"}
    log = (record_dir / "change.log").read_text()
    assert "resized" in log and "[freeze] exit status 0" in log
    import hashlib
    assert record["change"]["log"]["sha256"] == hashlib.sha256(log.encode()).hexdigest()
    assert pool.read_text() == "max_connections = 200\n"

    # before close, the host has no signed reference for its new state: check says so (not "clean")
    _, _, err = freeze("intervention", "check", plan, expect=EXIT_VERIFY_FAILED)
    assert "last intervention on it is 001-pool-200" in err and "close it first" in err

    closed = f.sign_and_close(plan, record_dir)
    assert "CLOSED" in closed and "intervention: auditor 1/1, directorate 1/1, observer 1/1" in closed

    # afterwards: clean against the NEW signed manifests
    _, out, _ = freeze("intervention", "check", plan)
    assert "clean" in out and "intervention pool-200" in out

    text = walk(f)
    assert "VERDICT: VERIFIED" in text
    step1 = next(line for line in text.splitlines() if "step 1: intervention pool-200" in line)
    assert "Alice A. (directorate, IT directorate; signed)" in step1
    assert "Carol C. (auditor, Court of Audit; signed)" in step1
    assert "Dave D. (observer, Party A; signed)" in step1
    assert "Jane Roe (press, Daily Example; no key)" in step1
    assert "auditor 1/1, directorate 1/1, observer 1/1 - met" in step1
    assert "1 declared change(s), nothing undeclared" in step1
    assert "step 0: the freeze: signed by Alice A. (directorate, IT directorate)" in text
    assert "monitoring report: monitoring-report.json sha256:" in text and "1 incident(s), 0 unanswered" in text
    # the auditor's printed report carries the same step lines (its "every check" table)
    pytest.importorskip("weasyprint")
    freeze("verify-evidence", f.bundle, "--root", f.root, "--interventions", f.records,
           "--report-dir", f.dir / "report")
    html = (f.dir / "report" / "verification-report.html").read_text()
    assert "step 1: intervention pool-200" in html and "Jane Roe (press, Daily Example; no key)" in html
    from tests.artifacts import pdf_page_png

    pdf_page_png(f.dir / "report" / "verification-report.pdf", "verification-report-interventions-page-2", page=2)

    # the same kind of change made OUTSIDE an intervention is drift against the new reference
    pool.write_text("max_connections = 300\n")
    code, out, _ = freeze("intervention", "check", plan, expect=None)
    assert code == 4 and f"changed file {pool}" in out

    # and a second intervention is refused on that unexplained drift
    plan2 = f.plan("pool-400", commands=[f"printf 'max_connections = 400\\n' > {pool}"], declared=[f"file:{pool}"])
    code, _, err = run(plan2, expect=EXIT_REFUSED)
    assert "unexplained drift" in err and str(pool) in err


def test_refused_on_unexplained_drift_before_any_change(frozen: Frozen) -> None:
    f = frozen
    (f.tree / "opt" / "count").write_text("#!/bin/sh\necho tampered\n")  # drift nobody explained
    marker = f.dir / "change-ran"
    plan = f.plan("refused", commands=[f"touch {marker}"], declared=[f"file:{f.tree}/etc/app/*"])
    p = freeze_proc("intervention", "run", plan, "--passphrase-env", PASS_ENV)
    assert p.returncode == EXIT_REFUSED, p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "refused: unexplained drift" in p.stderr and f"{f.tree}/opt/count" in p.stderr
    assert not marker.exists(), "the change must not run"
    assert not list(f.records.glob("*-refused")), "no record directory for a refused intervention"
    _, out, _ = freeze("journal", "append", f.journal, "--actor", "x", "--event", "probe", expect=EXIT_OK)
    from freeze.evidence.journal import Journal

    events = [json.loads(e)["event"] for e in Journal.open(f.journal).entries()]
    assert "intervention-refused" in events and "intervention-start" not in events
    exported = (f.records / "journal" / "entries.jsonl").read_text()
    assert '"event":"intervention-refused"' in exported  # handed to the auditors with the records


def test_an_intervention_touching_more_than_declared_shows_it_in_its_own_record(frozen: Frozen) -> None:
    f = frozen
    pool, app = f.tree / "etc" / "app" / "pool.conf", f.tree / "etc" / "app" / "app.conf"
    plan = f.plan("sneaky", commands=[f"printf 'max_connections = 200\\n' > {pool}", f"echo 'debug = on' >> {app}"],
                  declared=[f"file:{pool}"])
    code, out, err = run(plan, expect=None)
    assert code == 4, out + err  # changed (undeclared) entries: the drift bitmask
    assert "1 UNDECLARED: changed file " + str(app) in out and "MORE than declared" in err
    record_dir = next(f.records.glob("001-sneaky"))
    record = json.loads((record_dir / "record.json").read_bytes())
    assert record["verdict"] == "undeclared-changes"
    assert [i["key"] for i in record["hosts"]["local"]["drift"]["undeclared"]] == [str(app)]
    f.sign_and_close(plan, record_dir)
    text = walk(f)
    step1 = next(line for line in text.splitlines() if "step 1: intervention sneaky" in line)
    assert f"1 UNDECLARED: changed file {app}" in step1 and "verdict undeclared-changes" in step1


def test_tampering_with_the_record_or_the_journal_is_detected(frozen: Frozen, tmp_path: Path) -> None:
    f = frozen
    pool, app = f.tree / "etc" / "app" / "pool.conf", f.tree / "etc" / "app" / "app.conf"
    plan = f.plan("extra", commands=[f"printf 'max_connections = 200\\n' > {pool}", f"echo 'x = 1' >> {app}"],
                  declared=[f"file:{pool}"])
    run(plan, expect=4)
    record_dir = next(f.records.glob("001-extra"))
    f.sign_and_close(plan, record_dir)
    walk(f)  # untouched: verified

    def copy(name: str) -> Path:
        return Path(shutil.copytree(f.records, tmp_path / name))

    # 1. hide the undeclared change by editing record.json
    bad = copy("record")
    rec = json.loads((bad / record_dir.name / "record.json").read_bytes())
    rec["hosts"]["local"]["drift"]["undeclared"] = []
    (bad / record_dir.name / "record.json").write_text(json.dumps(rec))
    assert "record.json differs from the record the signed statement names" in walk(f, bad, EXIT_VERIFY_FAILED)
    # 2. edit the change log
    bad = copy("log")
    with open(bad / record_dir.name / "change.log", "a") as fh:
        fh.write("nothing else happened\n")
    assert "change.log is not the log the record names" in walk(f, bad, EXIT_VERIFY_FAILED)
    # 3. swap the after-manifest for the before one (pretend nothing changed)
    bad = copy("after")
    shutil.copy(bad / record_dir.name / "before" / "local.manifest.json",
                bad / record_dir.name / "after" / "local.manifest.json")
    assert "after-manifest differs from the signed record" in walk(f, bad, EXIT_VERIFY_FAILED)
    # 4. remove the intervention's journal entries
    bad = copy("journal")
    lines = (bad / "journal" / "entries.jsonl").read_bytes().split(b"\n")[:-1]
    kept = [e for e in lines if b'"event":"intervention' not in e]
    (bad / "journal" / "entries.jsonl").write_bytes(b"".join(e + b"\n" for e in kept))
    assert "FAIL" in walk(f, bad, EXIT_VERIFY_FAILED)
    # 5. rewrite a freeze-time entry of the journal
    bad = copy("rewrite")
    raw = (bad / "journal" / "entries.jsonl").read_bytes()
    (bad / "journal" / "entries.jsonl").write_bytes(raw.replace(b'"actor":"alice"', b'"actor":"mallory"', 1))
    assert "does not continue the freeze's" in walk(f, bad, EXIT_VERIFY_FAILED)


def test_threshold_not_met_fails(frozen: Frozen) -> None:
    f = frozen
    pool = f.tree / "etc" / "app" / "pool.conf"
    plan = f.plan("alone", commands=[f"printf 'max_connections = 200\\n' > {pool}"], declared=[f"file:{pool}"])
    run(plan)
    record_dir = next(f.records.glob("001-alone"))
    out = f.sign_and_close(plan, record_dir, signers=("alice",), close=EXIT_VERIFY_FAILED)
    assert "auditor 0/1 (missing: any of carol)" in out and "observer 0/1" in out
    # not closed: no reference for the new state yet
    _, _, err = freeze("intervention", "check", plan, expect=EXIT_VERIFY_FAILED)
    assert "close it first" in err
    # the signatures come, it closes; then one signature is taken out again: the walk fails
    for who in ("carol", "dave"):
        freeze("sign", record_dir / "record.dsse.json", "--key", f.keys[who], "--passphrase-env", PASS_ENV,
               "--root", f.root)
    freeze("intervention", "close", plan)
    walk(f)
    env = json.loads((record_dir / "record.dsse.json").read_bytes())
    env["signatures"] = env["signatures"][:1]
    (record_dir / "record.dsse.json").write_text(json.dumps(env))
    text = walk(f, expect=EXIT_VERIFY_FAILED)
    assert "THRESHOLD NOT MET" in text and "auditor 0/1" in text


def test_a_signature_of_someone_not_present_is_refused(frozen: Frozen) -> None:
    f = frozen
    pool = f.tree / "etc" / "app" / "pool.conf"
    plan = f.plan("absent", commands=[f"printf 'max_connections = 200\\n' > {pool}"], declared=[f"file:{pool}"])
    run(plan)
    record_dir = next(f.records.glob("001-absent"))
    freeze("sign", record_dir / "record.dsse.json", "--key", f.keys["bob"], "--passphrase-env", PASS_ENV,
           "--root", f.root)  # bob is in the root but was not in the room
    out = f.sign_and_close(plan, record_dir, close=EXIT_VERIFY_FAILED)
    assert "signed by bob, who the record does not list as present" in out


def test_the_next_intervention_waits_for_the_previous_one_to_close(frozen: Frozen) -> None:
    f = frozen
    pool = f.tree / "etc" / "app" / "pool.conf"
    run(f.plan("first", commands=[f"printf 'max_connections = 200\\n' > {pool}"], declared=[f"file:{pool}"]))
    plan = f.plan("second", commands=["true"], declared=[])
    _, _, err = run(plan, expect=EXIT_VERIFY_FAILED)
    assert "the journal's last intervention on it is 001-first, but the reference names the freeze" in err
    assert "close it first" in err


def test_a_crash_mid_intervention_leaves_a_start_without_record_which_the_walk_reports(frozen: Frozen) -> None:
    f = frozen
    plan = f.plan("crashed", commands=["kill -9 $PPID"], declared=[])  # the tool dies while the change runs
    p = freeze_proc("intervention", "run", plan, "--passphrase-env", PASS_ENV)
    assert p.returncode == -9
    note = f.dir / "after-crash.note"
    freeze("journal", "checkpoint", f.journal, "--key", f.keys["journal-log"], "--passphrase-env", PASS_ENV,
           "-o", note)
    freeze("journal", "cosign", note, "--key", f.keys["dave"], "--as", "dave", "--passphrase-env", PASS_ENV)
    freeze("journal", "store", f.journal, note)
    from freeze.evidence.journal import Journal
    from freeze.intervention.run import export_journal

    export_journal(Journal.open(f.journal), f.records)
    text = walk(f, expect=EXIT_VERIFY_FAILED)
    assert "intervention crashed started but its record is not in the journal" in text
    # the id's directory is never reused; a new id goes ahead on the unchanged host
    _, _, err = run(plan, expect=EXIT_REFUSED)
    assert "never reused" in err
    run(f.plan("retry", commands=["true"], declared=[]))


def test_a_playbook_change_with_its_log(frozen: Frozen) -> None:
    f = frozen
    pool = f.tree / "etc" / "app" / "pool.conf"
    (f.dir / "hosts.ini").write_text("frozen ansible_connection=local ansible_python_interpreter=python3\n")
    (f.dir / "scale.yml").write_text(
        "- hosts: frozen\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.copy: {{dest: '{pool}', content: \"max_connections = 250\\n\"}}\n")
    # Ansible's copy writes a temp file and renames it: the directory changes too, so it is declared
    plan = f.plan("by-playbook", commands=["unused"], declared=[f"file:{pool}", f"file:{pool.parent}"])
    data = json.loads(plan.read_text())
    data["change"] = {"playbook": "scale.yml", "inventory": "hosts.ini", "limit": "frozen", "timeout": 300}
    plan.write_text(json.dumps(data))
    _, out, _ = run(plan)
    assert "2 declared change(s), nothing undeclared" in out
    assert pool.read_text() == "max_connections = 250\n"
    record_dir = next(f.records.glob("001-by-playbook"))
    log = (record_dir / "change.log").read_text()
    assert "PLAY RECAP" in log and "changed=1" in log and "[freeze] exit status 0" in log
    record = json.loads((record_dir / "record.json").read_bytes())
    assert record["change"]["kind"] == "playbook" and record["change"]["playbook"]["file"] == "scale.yml"


def test_a_failed_change_is_recorded_with_what_it_did(frozen: Frozen) -> None:
    f = frozen
    pool = f.tree / "etc" / "app" / "pool.conf"
    marker = f.dir / "third-step"
    plan = f.plan("half", commands=[f"printf 'max_connections = 200\\n' > {pool}", "echo boom >&2; exit 3",
                                    f"touch {marker}"], declared=[f"file:{pool}"])
    _, _, err = run(plan, expect=EXIT_REFUSED)
    assert "the change failed (exit 3); it is recorded with its log" in err
    assert not marker.exists(), "the commands stop at the first failure"
    record_dir = next(f.records.glob("001-half"))
    record = json.loads((record_dir / "record.json").read_bytes())
    assert record["verdict"] == "change-failed" and record["change"]["exit_status"] == 3
    assert [i["key"] for i in record["hosts"]["local"]["drift"]["declared"]] == [str(pool)]  # what it did do
    log = (record_dir / "change.log").read_text()
    assert "boom" in log and "[freeze] exit status 3" in log  # stderr kept in the log too


def test_too_few_people_present_is_refused_before_anything_runs(frozen: Frozen) -> None:
    f = frozen
    marker = f.dir / "ran"
    plan = f.plan("few", commands=[f"touch {marker}"], declared=[], present=[{"person": "alice"}])
    _, _, err = run(plan, expect=EXIT_REFUSED)
    assert "too few people present" in err and "auditor 0/1" in err and not marker.exists()


@pytest.mark.parametrize(("change", "message"), [
    ({"reasn": "typo"}, "reasn: unknown field (did you mean reason?)"),
    ({"declared": ["bogus:/x"]}, "declared[0]: unknown kind 'bogus'"),
    ({"declared": ["/etc/app/*"]}, "declared[0]: '/etc/app/*': expected KIND:GLOB"),
    ({"change": {"commands": []}}, "change.commands: expected a non-empty list"),
    ({"change": {"commands": ["true"], "playbook": "x.yml"}}, "change: give exactly one of commands"),
    ({"hosts": {"local": {"collect": "ftp"}}}, "hosts.local.collect: expected local or ssh"),
    ({"present": [{"name": "Jane"}]}, "present[0].role: expected a non-empty text"),
    ({"present": [{"person": "zed"}]}, "present[0].person: zed is not a person of the ceremony root"),
    ({"intervention": 2}, "intervention: expected 1 (the plan format version)"),
])


def test_malformed_plan_is_one_line_non_zero_no_traceback(frozen: Frozen, change: dict[str, object],
                                                           message: str) -> None:
    f = frozen
    plan = f.plan("bad", commands=["true"], declared=[])
    data = json.loads(plan.read_text())
    data.update(change)
    plan.write_text(json.dumps(data))
    p = freeze_proc("intervention", "run", plan, "--passphrase-env", PASS_ENV)
    assert p.returncode == 65, p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert message in p.stderr
    assert not f.records.exists() or not list(f.records.glob("*-bad"))


def test_freeze_watch_follows_a_closed_intervention_and_alarms_on_the_outside_change(frozen: Frozen) -> None:
    """The host's continuous checker (roles/freeze_watch) takes the intervention's signed
    after-manifest as its reference: clean after the witnessed change, drift naming the
    file after the same change made outside it; a replaced after-manifest is refused."""
    from ansible_collections.election.freeze.plugins.action.freeze_watch_config import watch_config

    from freeze.errors import VerificationError
    from freeze.intervention.run import check_signed_after_manifest
    from tests.unit.plugins.test_freeze_watch import HOST, checker_items, install_checker, run_checker, value

    f = frozen
    pool = f.tree / "etc" / "app" / "pool.conf"
    plan = f.plan("pool-250", commands=[f"printf 'max_connections = 250\\n' > {pool}"], declared=[f"file:{pool}"])
    run(plan)
    record_dir = next(f.records.glob("001-pool-250"))
    with pytest.raises(VerificationError, match="not signed as the root requires"):
        check_signed_after_manifest(record_dir, f.root, "local")  # nobody has signed yet
    f.sign_and_close(plan, record_dir)
    after, digest, how = check_signed_after_manifest(record_dir, f.root, "local")
    assert after == record_dir / "after" / "local.manifest.json"
    assert how[-1] == f"manifest sha256:{digest} is host local's after-manifest in the signed record of " \
                      "intervention 001-pool-250"

    w = {"lib": install_checker(f.dir / "watch-lib"), "state": f.dir / "watch-state",
         "textfile": f.dir / "watch-textfile"}
    w["state"].mkdir()
    w["textfile"].mkdir()
    config = watch_config(str(after), str(f.profile), own_units=["freeze-watch.service"])
    assert config["manifest_sha256"] == digest
    shutil.copy(after, w["state"] / "manifest.json")
    (w["state"] / "watch.json").write_text(json.dumps(config))
    _, metrics = run_checker(w)
    assert value(metrics, "freeze_verify_ok", host=HOST) == "1", checker_items(metrics)

    pool.write_text("max_connections = 300\n")  # outside any intervention
    _, metrics = run_checker(w)
    assert value(metrics, "freeze_verify_ok", host=HOST) == "0"
    assert ("changed", "file", str(pool)) in checker_items(metrics)

    data = json.loads(after.read_bytes())
    data["sections"]["files"][str(pool)]["size"] = 23  # a reference that would accept the outside change
    after.write_text(json.dumps(data))
    with pytest.raises(VerificationError, match="is not the after-manifest the signed record 001-pool-250 names"):
        check_signed_after_manifest(record_dir, f.root, "local")
