"""The evidence path on a REAL manifest written by `freeze snapshot` (bytes only: evidence never parses it)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from freeze.cli import build_parser
from tests.integration.test_ceremony import PASS_ENV, Ceremony, freeze, needs_tools, run_ceremony
from tests.profiles import ONLY_FILES

pytestmark = needs_tools

@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ceremony]:
    c = run_ceremony(tmp_path_factory.mktemp("ceremony"), keep_tsa=True, second_tsa=True)
    yield c
    assert c.tsa is not None
    c.tsa.stop()


def test_two_independent_tsas(live: Ceremony) -> None:
    code, out, _ = freeze("verify-evidence", live.bundle, "--root-pin", live.root_digest, expect=0)
    ts_line = next(line for line in out.splitlines() if line.startswith("PASS  manifest: timestamps"))
    assert "12 token(s) verified" in ts_line and "local-tsa" in ts_line and "second-tsa" in ts_line
    assert len(list((live.bundle / "timestamps").glob("manifest.*.second-tsa.tsr"))) == 6


def test_signed_snapshot_manifest_verifies(live: Ceremony, tmp_path: Path) -> None:
    if "snapshot" not in build_parser()._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
        pytest.skip("`freeze snapshot` is not part of this build")
    app = tmp_path / "app"
    (app / "bin").mkdir(parents=True)
    (app / "bin" / "count").write_bytes(b"#!/bin/sh\necho count\n")
    (app / "app.conf").write_text("threshold = 10\n")
    profile = tmp_path / "profile.yml"
    profile.write_text(f"name: evidence-test\npaths:\n  - path: {app}\n{ONLY_FILES}")
    manifest = tmp_path / "manifest.json"
    freeze("snapshot", "--profile", profile, "--output", manifest)
    assert manifest.stat().st_size > 0

    journal = tmp_path / "journal.db"
    shutil.copy(live.journal, journal)
    env = tmp_path / "manifest.dsse.json"
    old = hashlib.sha256(
        __import__("base64").b64decode(__import__("json").loads(live.files["env-manifest"].read_bytes())["payload"])
    ).hexdigest()
    freeze("attest", "--type", "manifest", manifest, "--root", live.root, "-o", env, "--journal", journal,
           "--sequence", "2", "--supersedes", old)
    for who in ("alice", "bob", "carol", "dave", "frank"):
        # each signer checks the manifest THEY have against the statement before signing
        freeze("sign", env, "--key", live.keys[who], "--passphrase-env", PASS_ENV, "--root", live.root,
               "--document", manifest)
    assert live.tsa is not None
    freeze("timestamp", env, "--tsa", live.tsa.url, "--root", live.root)
    note = tmp_path / "cp.note"
    freeze("journal", "checkpoint", journal, "--key", live.keys["journal-log"], "--passphrase-env", PASS_ENV,
           "-o", note)
    for who in ("dave", "frank"):
        freeze("journal", "cosign", note, "--key", live.keys[who], "--as", who, "--passphrase-env", PASS_ENV)
    freeze("journal", "store", journal, note)
    bundle = tmp_path / "bundle"
    freeze("bundle", "create", bundle, "--root", live.root, "--statement", f"manifest={env}:{manifest}",
           "--statement", f"zero-report={live.files['env-zero-report']}:{live.files['zero']}",
           "--journal", journal)
    _, out, _ = freeze("verify-evidence", bundle, "--root-pin", live.root_digest, expect=0)
    assert "manifest: statement: manifest.json sha256:" + hashlib.sha256(manifest.read_bytes()).hexdigest() in out
    assert (bundle / "documents" / "manifest.json").read_bytes() == manifest.read_bytes()


def test_sign_refuses_an_envelope_whose_existing_signatures_broke(live: Ceremony, tmp_path: Path) -> None:
    import base64
    import json

    env = tmp_path / "m.dsse.json"
    d = json.loads(live.files["env-manifest"].read_bytes())
    d["signatures"][0]["sig"] = base64.b64encode(b"\x00" * 64).decode()
    env.write_text(json.dumps(d))
    code, _, err = freeze("sign", env, "--key", live.keys["alice"], "--passphrase-env", PASS_ENV,
                          "--root", live.root, expect=8)
    assert "already carries invalid signatures" in err
