"""Our evidence verifies with other people's tools: securesystemslib, ssh-keygen, openssl, sha256sum.

The commands are the ones VERIFY.txt gives auditors, run with the real binaries.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from freeze.evidence import statement
from freeze.evidence.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope
from freeze.evidence.keys import load_public_key_file
from freeze.evidence.policy import count_envelope
from freeze.evidence.root import load_root_envelope
from tests.integration.test_ceremony import Ceremony, needs_tools, run_ceremony

pytestmark = needs_tools


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory: pytest.TempPathFactory) -> Ceremony:
    return run_ceremony(tmp_path_factory.mktemp("ceremony"))


def _sslib_keys(c: Ceremony) -> list[SSlibKey]:
    keys = []
    for who in ("alice", "bob", "carol", "dave"):
        ref = load_public_key_file(c.dir / f"{who}.pub.pem")
        # our keyid hint is what securesystemslib uses to pick the key
        keys.append(SSlibKey(ref.short, "ed25519", "ed25519", {"public": ref.material.hex()}))
    return keys


def test_envelope_verifies_with_securesystemslib(ceremony: Ceremony) -> None:
    data = json.loads((ceremony.bundle / "statements" / "manifest.dsse.json").read_bytes())
    env = SslibEnvelope.from_dict(json.loads(json.dumps(data)))  # from_dict mutates: give it a copy
    accepted = env.verify(_sslib_keys(ceremony), 4)
    assert len(accepted) == 4
    st = json.loads(env.payload)
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == statement.PREDICATE_TYPES["manifest"]
    assert env.payload_type == IN_TOTO_PAYLOAD_TYPE
    # securesystemslib rejects the same tampering we do
    data["payload"] = data["payload"][:-4] + "AAA="
    with pytest.raises(SslibVerificationError):
        SslibEnvelope.from_dict(data).verify(_sslib_keys(ceremony), 1)


def test_securesystemslib_signatures_verify_with_freeze(ceremony: Ceremony) -> None:
    _, root = load_root_envelope(ceremony.root.read_bytes())
    payload = statement.build("manifest", name="m.json", data=b"{}", root=root)
    signer = CryptoSigner.generate_ed25519()
    env = SslibEnvelope(payload, IN_TOTO_PAYLOAD_TYPE, {})
    env.sign(signer)
    ours = Envelope.from_bytes(json.dumps(env.to_dict()).encode())
    assert ours.payload == payload
    pub = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(signer.public_key.keyval["public"]))
    pub.verify(ours.signatures[0].sig, ours.pae())  # same PAE bytes on both sides
    # a key not in the ceremony root never counts, whatever its keyid says
    assert count_envelope(root, "manifest", ours).bad_signatures


def _run(cmd: list[str], cwd: Path, stdin: Path | None = None) -> subprocess.CompletedProcess:
    with open(stdin, "rb") if stdin else open("/dev/null", "rb") as f:
        return subprocess.run(cmd, cwd=cwd, stdin=f, capture_output=True, text=True, check=False)


def test_ssh_signatures_verify_with_ssh_keygen(ceremony: Ceremony) -> None:
    b = ceremony.bundle
    sigs = sorted((b / "signatures").glob("*.sig"))
    assert {p.name for p in sigs} >= {"manifest.erin.sig", "manifest.frank.sig"}  # stock-made and ours
    for sig in sigs:
        etype, person = sig.name.rsplit(".", 2)[0], sig.name.rsplit(".", 2)[1]
        res = _run(["ssh-keygen", "-Y", "verify", "-f", "signatures/allowed_signers", "-I", person,
                    "-n", "election-freeze-evidence-v1", "-s", f"signatures/{sig.name}"],
                   b, b / "signatures" / f"{etype}.pae")
        assert res.returncode == 0, res.stderr
        assert f'Good "election-freeze-evidence-v1" signature for {person}' in res.stdout
    wrong = _run(["ssh-keygen", "-Y", "verify", "-f", "signatures/allowed_signers", "-I", "frank",
                  "-n", "election-freeze-evidence-v1", "-s", "signatures/manifest.frank.sig"],
                 b, b / "signatures" / "zero-report.pae")
    assert wrong.returncode != 0


def test_timestamps_verify_with_openssl_ts(ceremony: Ceremony) -> None:
    b = ceremony.bundle
    tsrs = sorted((b / "timestamps").glob("*.tsr"))
    assert len(tsrs) == 12
    for tsr in tsrs:
        etype, n, tsa = tsr.name.removesuffix(".tsr").split(".", 2)
        res = _run(["openssl", "ts", "-verify", "-data", f"signatures/{etype}.{n}.sigbytes",
                    "-in", f"timestamps/{tsr.name}", "-CAfile", f"timestamps/{tsa}.ca.pem"], b)
        assert res.returncode == 0 and "Verification: OK" in res.stdout, res.stderr
    other = _run(["openssl", "ts", "-verify", "-data", "signatures/manifest.1.sigbytes",
                  "-in", "timestamps/manifest.0.local-tsa.tsr", "-CAfile", "timestamps/local-tsa.ca.pem"], b)
    assert other.returncode != 0 and "message imprint mismatch" in other.stderr


def test_sha256sum_checks_the_bundle(ceremony: Ceremony, tmp_path: Path) -> None:
    b = tmp_path / "b"
    shutil.copytree(ceremony.bundle, b)
    assert _run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], b).returncode == 0
    (b / "documents" / "manifest.json").write_bytes(b"{}")
    res = _run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], b)
    assert res.returncode != 0 and "documents/manifest.json: FAILED" in res.stdout


def test_envelope_loads_and_verifies_with_the_in_toto_library(ceremony: Ceremony) -> None:
    from in_toto.models.metadata import Envelope as InTotoEnvelope
    from in_toto.models.metadata import Metadata

    md = Metadata.load(str(ceremony.bundle / "statements" / "manifest.dsse.json"))
    assert isinstance(md, InTotoEnvelope)
    for who in ("alice", "bob", "carol", "dave"):
        ref = load_public_key_file(ceremony.dir / f"{who}.pub.pem")
        md.verify_signature({"keyid": ref.short, "keytype": "ed25519", "scheme": "ed25519",
                             "keyval": {"public": ref.material.hex()}})
    # in-toto-python parses only its v1.0 link/layout payloads, not Statement v1: documented limit
    from in_toto.models.metadata import InvalidMetadata
    with pytest.raises(InvalidMetadata):
        md.get_payload()


def _sheet_commands(bundle: Path, tool: str) -> list[str]:
    return [ln.strip() for ln in (bundle / "VERIFY.txt").read_text().splitlines() if ln.strip().startswith(tool)]


def test_every_ed25519_signature_verifies_with_openssl_from_the_sheet(ceremony: Ceremony, tmp_path: Path) -> None:
    """VERIFY.txt's openssl pkeyutl lines, run as written, check each Ed25519 signer; a tampered PAE fails them."""
    b = tmp_path / "b"
    shutil.copytree(ceremony.bundle, b)
    cmds = _sheet_commands(b, "openssl pkeyutl -verify")
    # alice, bob, carol, dave sign manifest and zero-report with Ed25519 PEM keys
    assert len(cmds) == 8, cmds
    roles: dict[str, list[str]] = {}
    for cmd in cmds:
        res = subprocess.run(["sh", "-c", cmd], cwd=b, capture_output=True, text=True, check=False)
        assert res.returncode == 0 and "Signature Verified Successfully" in res.stdout, (cmd, res.stderr)
        etype = cmd.split("-in signatures/")[1].split(".pae")[0]
        roles.setdefault(etype, []).append(cmd.rsplit("(", 1)[1].rstrip(")"))
    # with the ssh-keygen lines, the manifest threshold (directorate 2, auditor 1, observer 2) is met
    assert sorted(roles["manifest"]) == ["auditor", "directorate", "directorate", "observer"]
    assert len(_sheet_commands(b, "ssh-keygen -Y verify")) >= 2
    # the key files are the root's keys: the sheet's base64 command prints the root's 'public'
    _, root = load_root_envelope(ceremony.root.read_bytes())
    alice_pub = root.people["alice"].keys[0].to_dict()["public"]
    out = subprocess.run(["sh", "-c", "openssl pkey -pubin -in keys/alice.pub.pem -outform DER | tail -c 32 | base64"],
                         cwd=b, capture_output=True, text=True, check=True).stdout.strip()
    assert out == alice_pub
    # one byte of the signed payload changed: every signer's check fails
    pae = b / "signatures" / "manifest.pae"
    data = bytearray(pae.read_bytes())
    data[-3] ^= 0x01
    pae.write_bytes(bytes(data))
    for cmd in (c for c in cmds if "manifest.pae" in c):
        res = subprocess.run(["sh", "-c", cmd], cwd=b, capture_output=True, text=True, check=False)
        assert res.returncode != 0 and "Signature Verification Failure" in res.stdout + res.stderr, cmd
