"""A stranger's signature cannot poison an envelope for good (issue 16, defect 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

from freeze.evidence.dsse import Envelope, Signature
from freeze.evidence.keys import PassphraseSource, load_signer
from tests.integration.test_ceremony import PASS_ENV, Ceremony, freeze, needs_tools

pytestmark = needs_tools


def test_the_pae_hint_signs_against_the_root(live: Ceremony, tmp_path: Path) -> None:
    _, out, _ = freeze("pae", live.files["env-manifest"], "-o", tmp_path / "m.pae")
    assert "--ssh-signature" in out and "--root ROOT.json" in out


def test_a_strangers_signature_is_refused_and_can_be_removed(live: Ceremony, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.pem"
    freeze("keygen", stranger, "--passphrase-env", PASS_ENV)
    env = tmp_path / "m.dsse.json"
    shutil.copy(live.files["env-manifest"], env)
    _, _, err = freeze("sign", env, "--key", stranger, "--passphrase-env", PASS_ENV, "--root", live.root, expect=65)
    assert "not listed in the ceremony root" in err

    # it gets in anyway (merge-signatures, a hand edit): the envelope no longer verifies
    signer = load_signer(stranger, PassphraseSource(env=PASS_ENV))
    e = Envelope.from_bytes(env.read_bytes())
    e.add(Signature(signer.sign(e.pae()), signer.ref.short))
    env.write_bytes(e.to_bytes())
    verify = ("verify-envelope", env, "--type", "manifest", "--root", live.root)
    freeze(*verify, expect=8)

    _, _, err = freeze("remove-signature", env, "--keyid", "0" * 16, expect=65)
    assert "no signature with key id '0000000000000000'" in err
    _, out, _ = freeze("remove-signature", env, "--keyid", signer.ref.short)
    assert f"removed 1 signature(s) with key id {signer.ref.short}" in out
    freeze(*verify, expect=0)
    assert Envelope.from_bytes(env.read_bytes()).payload == e.payload
