"""A whole ceremony through the real `freeze` CLI, verified offline in a clean directory.

People: alice and bob (directorate), carol (auditor), dave, erin, frank (observers,
threshold 2 of 3). dave signs with an Ed25519 PEM key, erin with her OpenSSH key
through the stock `ssh-keygen -Y sign`, frank with his passphrase-protected
OpenSSH key in Python. A local TSA (real `openssl ts -reply`) timestamps every
signature and is stopped before verification.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from freeze.cli import main
from freeze.report.model import ReportSection, ZeroReport
from tests.tsa import LocalTsa

# On CI (CI set) a missing binary must fail, not skip: the ceremony is the main path.
TOOLS_MISSING = any(shutil.which(b) is None for b in ("openssl", "ssh-keygen", "sha256sum"))
needs_tools = pytest.mark.skipif(
    TOOLS_MISSING and not os.environ.get("CI"),
    reason="needs the openssl, ssh-keygen and sha256sum binaries (scripts/bootstrap.sh installs them)",
)
pytestmark = needs_tools

PASS_ENV = "FREEZE_TEST_KEY_PASSPHRASE"
PASSPHRASE = "correct horse battery staple"
ORIGIN = "freeze.example/2026-general/ceremony-1"
FREEZE = [sys.executable, "-m", "freeze"]


def freeze(*args: str | Path, expect: int | None = 0) -> tuple[int, str, str]:
    """Run the real CLI in-process (fast); returns (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    if expect is not None:
        assert code == expect, f"freeze {' '.join(map(str, args))} -> {code}\n{out.getvalue()}\n{err.getvalue()}"
    return code, out.getvalue(), err.getvalue()


def freeze_proc(*args: str | Path, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the CLI as a separate process (what an auditor runs)."""
    return subprocess.run([*FREEZE, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env or {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                          check=False, timeout=120)


@dataclass
class Ceremony:
    dir: Path
    root: Path
    root_digest: str
    journal: Path
    bundle: Path
    tar: Path
    checkpoint_line: str
    keys: dict[str, Path] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    tsa_ca: Path | None = None
    tsa: LocalTsa | None = None


def _ssh_keygen(path: Path, passphrase: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", path.name, "-f", str(path)],
                   check=True, capture_output=True)


def run_ceremony(base: Path, *, keep_tsa: bool = False, second_tsa: bool = False) -> Ceremony:
    os.environ[PASS_ENV] = PASSPHRASE
    base.mkdir(parents=True, exist_ok=True)
    keys: dict[str, Path] = {}
    for who in ("alice", "bob", "carol", "dave", "journal-log"):
        keys[who] = base / f"{who}.pem"
        freeze("keygen", keys[who], "--passphrase-env", PASS_ENV)
    keys["erin"] = base / "erin_ed25519"
    _ssh_keygen(keys["erin"], "")  # erin signs with stock ssh-keygen, her own tool
    keys["frank"] = base / "frank_ed25519"
    _ssh_keygen(keys["frank"], PASSPHRASE)

    tsa = LocalTsa(base / "tsa")
    tsa2 = LocalTsa(base / "tsa2", label="tsa2") if second_tsa else None
    try:
        spec = {
            "election": "2026-general",
            "ceremony": "freeze-1",
            "expires": "2099-01-01T00:00:00Z",
            "people": {
                "alice": {"role": "directorate", "name": "Alice A.", "keys": ["alice.pub.pem"]},
                "bob": {"role": "directorate", "name": "Bob B.", "keys": ["bob.pub.pem"]},
                "carol": {"role": "auditor", "name": "Carol C.", "keys": ["carol.pub.pem"]},
                "dave": {"role": "observer", "name": "Dave (party A)", "keys": ["dave.pub.pem"]},
                "erin": {"role": "observer", "name": "Erin (party B)", "keys": ["erin_ed25519.pub"]},
                "frank": {"role": "observer", "name": "Frank (party C)", "keys": ["frank_ed25519.pub"]},
            },
            "thresholds": {
                "root": {"directorate": 2},
                "manifest": {"directorate": 2, "auditor": 1, "observer": 2},
                "zero-report": {"directorate": 2, "auditor": 1, "observer": 2},
                "checkpoint": {"observer": 2},
            },
            "journal": {"origin": ORIGIN, "log_key": "journal-log.pub.pem"},
            "timestamp_authorities": [{"name": "local-tsa", "url": tsa.url, "certificates": ["tsa/tsa-ca.pem"]}],
        }
        if tsa2 is not None:
            spec["timestamp_authorities"].append(
                {"name": "second-tsa", "url": tsa2.url, "certificates": ["tsa2/tsa2-ca.pem"]})
        (base / "root-spec.json").write_text(json.dumps(spec))
        root = base / "root.json"
        _, out, _ = freeze("root", "init", base / "root-spec.json", "-o", root)
        digest = out.split("sha256:")[1].split()[0]
        for who in ("alice", "bob"):
            freeze("root", "sign", root, "--key", keys[who], "--passphrase-env", PASS_ENV)

        journal = base / "journal.db"
        freeze("journal", "init", journal, "--origin", ORIGIN)
        freeze("journal", "append", journal, "--actor", "alice", "--event", "ceremony-open",
               "--file", root, "--name", "root.json")

        manifest = base / "manifest.json"
        manifest.write_bytes(json.dumps({"schema": 1, "hosts": {"db1": {"files": {"/etc/x": "ab" * 32}}}},
                                        sort_keys=True).encode())
        zero = base / "zero-report.json"
        backup_digest = "12" * 32
        # as `freeze zero` writes it: the verified backup's digest is in the report's system block
        zero.write_bytes(ZeroReport(
            title="Zero report", election_id="2026-general", election_name="General election 2026",
            generated_at_utc="2026-11-28T07:00:03Z", generated_at_local="2026-11-28 08:00:03 CET",
            system={"backup_sha256": backup_digest, "hosts": ["count-db"], "tool": "freeze (test)"},
            sections=(ReportSection("Votes per candidate", ("contest", "candidate"), ("votes",),
                                    ((("mayor", "A. Example"), (0,)), (("mayor", "B. Example"), (0,)))),
                      ReportSection("Tally sheets received", ("district",), ("sheets", "ballots"),
                                    ((("north",), (0, 0)), (("south",), (0, 0))))),
            signatures=("Directorate", "Auditor"), run_id="zr-1").canonical_bytes())
        envs = {}
        for etype, doc, extra in (("manifest", manifest, []),
                                  ("zero-report", zero, ["--backup", f"counting.dump={backup_digest}"])):
            env = base / f"{etype}.dsse.json"
            freeze("attest", "--type", etype, doc, "--root", root, "-o", env, "--journal", journal,
                   "--actor", "alice", *extra)
            envs[etype] = env
        # each key holder signs every pending envelope with one command and one passphrase entry
        for who in ("alice", "bob", "carol", "dave", "frank"):
            freeze("sign", *envs.values(), "--key", keys[who], "--passphrase-env", PASS_ENV, "--root", root)
        for etype, env in envs.items():
            # erin: stock OpenSSH tooling over the exact PAE bytes
            pae = base / f"{etype}.pae"
            freeze("pae", env, "-o", pae)
            subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(keys["erin"]), "-n", "election-freeze-evidence-v1",
                            str(pae)], check=True, capture_output=True)
            freeze("sign", env, "--ssh-signature", f"{pae}.sig", "--root", root)
            # (frank signed above with his passphrase-protected OpenSSH key, in Python: SSHSIG)
            freeze("timestamp", env, "--tsa", tsa.url, *(["--tsa", tsa2.url] if tsa2 else []), "--root", root)

        note = base / "checkpoint.note"
        _, line, _ = freeze("journal", "checkpoint", journal, "--key", keys["journal-log"],
                            "--passphrase-env", PASS_ENV, "-o", note)
        for who in ("dave", "frank"):
            freeze("journal", "cosign", note, "--key", keys[who], "--as", who, "--passphrase-env", PASS_ENV)
        freeze("journal", "store", journal, note)

        bundle = base / "bundle"
        freeze("bundle", "create", bundle, "--root", root,
               "--statement", f"manifest={envs['manifest']}:{manifest}",
               "--statement", f"zero-report={envs['zero-report']}:{zero}",
               "--journal", journal, "--backup", f"counting.dump={backup_digest}", "--tar")
    except BaseException:
        tsa.stop()
        if tsa2 is not None:
            tsa2.stop()
        raise
    if not keep_tsa:
        tsa.stop()
    if tsa2 is not None:
        tsa2.stop()
    c = Ceremony(base, root, digest, journal, bundle, base / "bundle.tar", line.strip(), keys,
                 {"manifest": manifest, "zero": zero, **{f"env-{k}": v for k, v in envs.items()}}, tsa.ca)
    c.tsa = tsa
    return c


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory: pytest.TempPathFactory) -> Ceremony:
    return run_ceremony(tmp_path_factory.mktemp("ceremony"))


def test_full_ceremony_verifies_offline_in_a_clean_directory(ceremony: Ceremony, tmp_path: Path) -> None:
    clean = tmp_path / "auditor"
    clean.mkdir()
    shutil.copytree(ceremony.bundle, clean / "bundle")
    shutil.copy(ceremony.tar, clean / "bundle.tar")
    for target in ("bundle", "bundle.tar"):
        res = freeze_proc("verify-evidence", target, "--root-pin", ceremony.root_digest,
                          "--checkpoint", ceremony.checkpoint_line, cwd=clean)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "VERDICT: VERIFIED" in res.stdout
        assert "root digest pinned by the auditor" in res.stdout
        assert "manifest: auditor 1/1, directorate 2/2, observer 3/2" in res.stdout
        assert "token(s) verified" in res.stdout
        assert "matches the minutes' checkpoint" in res.stdout
        assert res.stderr == ""


def test_verify_with_a_root_file_the_auditor_brings(ceremony: Ceremony, tmp_path: Path) -> None:
    shutil.copytree(ceremony.bundle, tmp_path / "b")
    code, out, _ = freeze("verify-evidence", tmp_path / "b", "--root", ceremony.root, expect=0)
    assert "root file brought by the auditor" in out


def test_no_root_of_trust_is_refused(ceremony: Ceremony) -> None:
    code, out, _ = freeze("verify-evidence", ceremony.bundle, expect=8)
    assert "no root of trust" in out


def test_verification_needs_no_network(ceremony: Ceremony, tmp_path: Path) -> None:
    """The TSA is already stopped; also run in a network namespace without interfaces when possible."""
    shutil.copytree(ceremony.bundle, tmp_path / "b")
    probe = (subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
             if shutil.which("unshare") else None)
    if probe is None or probe.returncode != 0:
        pytest.skip("unshare -n not permitted here (needs root); the TSA-stopped run above still covers offline")
    res = subprocess.run(["unshare", "-n", *FREEZE, "verify-evidence", str(tmp_path / "b"), "--root-pin",
                          ceremony.root_digest], capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert res.returncode == 0, res.stdout + res.stderr


def test_verify_path_imports_no_http_client(ceremony: Ceremony) -> None:
    code = (
        "import sys\nfrom pathlib import Path\nfrom freeze.evidence.verify import verify_bundle\n"
        f"r = verify_bundle(Path({str(ceremony.bundle)!r}), root_pin={ceremony.root_digest!r})\n"
        "assert r.ok, r.to_dict()\n"
        "bad = [m for m in ('http.client', 'urllib.request', 'requests', 'httpx') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert res.returncode == 0, res.stderr


def test_verify_sheet_names_the_stock_commands(ceremony: Ceremony) -> None:
    sheet = (ceremony.bundle / "VERIFY.txt").read_text()
    assert "sha256sum -c SHA256SUMS" in sheet
    assert "ssh-keygen -Y verify -f signatures/allowed_signers -I erin" in sheet
    assert "openssl ts -verify -data signatures/manifest.0.sigbytes" in sheet
    assert ceremony.root_digest in sheet


def test_checkpoint_line_is_short_enough_for_the_minutes(ceremony: Ceremony) -> None:
    assert len(ceremony.checkpoint_line) <= 100
    origin, size, root_b64 = ceremony.checkpoint_line.split()
    assert origin == ORIGIN and int(size) >= 3 and len(root_b64) == 44


# The auditor's laptop has only `pip install election-freeze`: none of the extras
# (psycopg, paramiko, weasyprint) and no Ansible. A meta-path blocker loaded through
# sitecustomize makes those imports fail in the subprocess as if not installed.
BLOCKED = ("psycopg", "psycopg_binary", "paramiko", "weasyprint", "ansible", "ansible_runner")
_BLOCKER = f'''
import sys
BLOCKED = {BLOCKED!r}

class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
'''


def _without_extras(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "blocker"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_BLOCKER)
    repo = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{repo}"}


def test_verify_evidence_runs_without_the_extras(ceremony: Ceremony, tmp_path: Path) -> None:
    env = _without_extras(tmp_path)
    for module in BLOCKED[:1] + BLOCKED[2:5]:  # the blocker really blocks (else this test proves nothing)
        probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                               text=True, env=env, check=False)
        assert probe.returncode != 0 and "blocked by the test" in probe.stderr, (module, probe.stderr)
    shutil.copytree(ceremony.bundle, tmp_path / "b")
    shutil.copy(ceremony.tar, tmp_path / "b.tar")
    for target in ("b", "b.tar"):
        res = freeze_proc("verify-evidence", tmp_path / target, "--root-pin", ceremony.root_digest,
                          "--checkpoint", ceremony.checkpoint_line, cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "VERDICT: VERIFIED" in res.stdout
        assert res.stderr == ""
    res = freeze_proc("verify-envelope", ceremony.dir / "manifest.dsse.json", "--type", "manifest",
                      "--root", ceremony.root, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_missing_extra_is_one_line_naming_it(ceremony: Ceremony, tmp_path: Path) -> None:
    env = _without_extras(tmp_path)
    zero = freeze_proc("zero", "-p", tmp_path / "p.yml", "-m", tmp_path / "m.json",
                       "--evidence-dir", tmp_path / "ev", cwd=tmp_path, env=env)
    assert zero.returncode == 69, zero.stderr
    assert zero.stderr.strip() == ("freeze: error: psycopg is not installed; this command needs "
                                   "the 'postgres' extra: pip install 'election-freeze[postgres]'")
    from tests.unit.test_report_model import _report

    report = tmp_path / "zero-report.json"
    report.write_bytes(_report().canonical_bytes())
    pdf = freeze_proc("zero-report", report, "-o", tmp_path / "print",
                      "--format", "pdf", cwd=tmp_path, env=env)
    assert pdf.returncode == 69, pdf.stdout + pdf.stderr
    assert pdf.stderr.strip().endswith("pip install 'election-freeze[pdf]'")
    assert len(pdf.stderr.strip().splitlines()) == 1
    html = freeze_proc("zero-report", report, "-o", tmp_path / "print",
                       "--format", "html", cwd=tmp_path, env=env)
    assert html.returncode == 0, html.stdout + html.stderr
    assert (tmp_path / "print" / "zero-report.html").is_file()
