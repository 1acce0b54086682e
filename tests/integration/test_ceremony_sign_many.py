"""`freeze sign A B --key K`: one passphrase entry signs every pending envelope of a key holder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from freeze.cli import main
from freeze.evidence.dsse import Envelope
from freeze.evidence.keys import PassphraseSource, load_public_key_file
from tests.integration.test_ceremony import PASS_ENV, Ceremony, needs_tools, run_ceremony

pytestmark = needs_tools


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory: pytest.TempPathFactory) -> Ceremony:
    return run_ceremony(tmp_path_factory.mktemp("ceremony"))


def test_one_passphrase_entry_for_both_envelopes(ceremony: Ceremony, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    carol = load_public_key_file(ceremony.dir / "carol.pub.pem")
    envs = []
    for etype in ("manifest", "zero-report"):
        env = tmp_path / f"{etype}.dsse.json"
        shutil.copy(ceremony.files[f"env-{etype}"], env)
        assert main(["remove-signature", str(env), "--keyid", carol.short]) == 0
        envs.append(env)
    entries = []
    real_get = PassphraseSource.get

    def counting_get(self: PassphraseSource, **kw: object) -> bytes:  # a spy: the real read runs
        entries.append(kw.get("prompt"))
        return real_get(self, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(PassphraseSource, "get", counting_get)
    assert main(["sign", *map(str, envs), "--key", str(ceremony.keys["carol"]),
                 "--passphrase-env", PASS_ENV, "--root", str(ceremony.root)]) == 0
    assert len(entries) == 1
    for env in envs:
        signed = Envelope.from_bytes(env.read_bytes())
        assert any(carol.verify(s.sig, signed.pae()) for s in signed.signatures)
    # both envelopes verify again at the signing table
    for env, etype in zip(envs, ("manifest", "zero-report"), strict=True):
        assert main(["verify-envelope", str(env), "--type", etype, "--root", str(ceremony.root)]) == 0


def test_a_key_outside_the_root_signs_nothing(ceremony: Ceremony, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.pem"
    assert main(["keygen", str(stranger), "--passphrase-env", PASS_ENV]) == 0
    envs = [tmp_path / "m.dsse.json", tmp_path / "z.dsse.json"]
    shutil.copy(ceremony.files["env-manifest"], envs[0])
    shutil.copy(ceremony.files["env-zero-report"], envs[1])
    before = [e.read_bytes() for e in envs]
    assert main(["sign", *map(str, envs), "--key", str(stranger), "--passphrase-env", PASS_ENV,
                 "--root", str(ceremony.root)]) != 0
    assert [e.read_bytes() for e in envs] == before


def test_document_with_several_envelopes_is_refused(ceremony: Ceremony) -> None:
    env = str(ceremony.files["env-manifest"])
    assert main(["sign", env, env, "--key", str(ceremony.keys["carol"]), "--root", str(ceremony.root),
                 "--document", str(ceremony.files["manifest"])]) == 64
