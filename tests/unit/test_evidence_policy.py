"""Threshold counting: distinct keys and distinct people, never key ids."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from freeze.errors import VerificationError
from freeze.evidence import sshsig, statement
from freeze.evidence.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, Signature
from freeze.evidence.keys import Ed25519Signer, KeyRef
from freeze.evidence.policy import count_envelope
from freeze.evidence.root import ROOT_PAYLOAD_TYPE, Person, Root, new_root
from freeze.evidence.trust import establish_trust


def signer() -> Ed25519Signer:
    return Ed25519Signer(ed25519.Ed25519PrivateKey.generate())


def make_root(people: dict[str, tuple[str, list[KeyRef]]], thresholds: dict) -> Root:
    return new_root(
        election="e", ceremony="c", expires=dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
        people={pid: Person(pid, role, pid, tuple(keys)) for pid, (role, keys) in people.items()},
        thresholds={"root": {"directorate": 1}, **thresholds},
        journal_origin="o", journal_key=None, tsas=[],
    )


def manifest_envelope(root: Root, *signers: Ed25519Signer) -> Envelope:
    payload = statement.build("manifest", name="m.json", data=b"{}", root=root)
    env = Envelope(payload, IN_TOTO_PAYLOAD_TYPE)
    for s in signers:
        env.add(Signature(s.sign(env.pae()), s.ref.short))
    return env


def test_same_key_under_two_ids_does_not_reach_threshold_two() -> None:
    d = signer()
    root = make_root({"boss": ("directorate", [signer().ref]), "dave": ("observer", [d.ref]),
                      "dave2": ("observer", [d.ref])}, {"manifest": {"observer": 2}})
    assert any("listed for both dave and dave2" in p for p in root.lint())
    env = manifest_envelope(root, d)
    sig = env.signatures[0].sig
    env.signatures.append(Signature(sig, "another-keyid"))  # a copy under another key id
    result = count_envelope(root, "manifest", env)
    assert not result.ok
    assert result.describe().startswith("manifest: observer 1/2 (missing: any of dave2)")
    assert "#1: a copy of an earlier signature" in result.describe()


def test_same_key_as_ed25519_and_as_ssh_is_one_identity() -> None:
    d = signer()
    as_ssh = KeyRef("ssh", sshsig.ed25519_wire_key(d.ref.material))
    assert as_ssh.identity == d.ref.identity


def test_one_person_with_two_keys_counts_once() -> None:
    k1, k2, other = signer(), signer(), signer()
    root = make_root({"boss": ("directorate", [signer().ref]), "dave": ("observer", [k1.ref, k2.ref]),
                      "erin": ("observer", [other.ref])}, {"manifest": {"observer": 2}})
    result = count_envelope(root, "manifest", manifest_envelope(root, k1, k2))
    assert not result.ok and result.roles[0].people == ["dave"]
    assert count_envelope(root, "manifest", manifest_envelope(root, k1, other)).ok


def test_explains_missing_signers_per_role() -> None:
    a, b, c, o1, o2 = (signer() for _ in range(5))
    root = make_root({"alice": ("directorate", [a.ref]), "bob": ("directorate", [b.ref]),
                      "carol": ("auditor", [c.ref]), "dave": ("observer", [o1.ref]),
                      "erin": ("observer", [o2.ref]), "frank": ("observer", [signer().ref])},
                     {"manifest": {"directorate": 2, "auditor": 1, "observer": 2}})
    result = count_envelope(root, "manifest", manifest_envelope(root, a, c, o1))
    assert result.describe() == (
        "manifest: directorate 1/2 (missing: any of bob), auditor 1/1, observer 1/2 (missing: any of erin, frank)"
    )


def test_signature_binds_payload_type() -> None:
    a = signer()
    root = make_root({"alice": ("directorate", [a.ref])}, {"manifest": {"directorate": 1}})
    env = manifest_envelope(root, a)
    moved = Envelope(env.payload, "application/json", env.signatures)
    assert count_envelope(root, "manifest", env).ok
    assert not count_envelope(root, "manifest", moved).ok


def test_zero_report_statement_is_not_a_manifest() -> None:
    a = signer()
    root = make_root({"alice": ("directorate", [a.ref])}, {"manifest": {"directorate": 1},
                                                           "zero-report": {"directorate": 1}})
    payload = statement.build("zero-report", name="z.json", data=b"{}", root=root)
    env = Envelope(payload, IN_TOTO_PAYLOAD_TYPE)
    env.add(Signature(a.sign(env.pae())))
    assert count_envelope(root, "manifest", env).ok  # the signature itself is fine...
    with pytest.raises(VerificationError, match="is a 'zero-report' statement, not a 'manifest' one"):
        statement.parse(env, "manifest")  # ...but the statement type is bound


def test_ssh_signatures_count_for_their_person() -> None:
    k = ed25519.Ed25519PrivateKey.generate()
    ssh_signer = Ed25519Signer(k, kind="ssh")
    root = make_root({"boss": ("directorate", [signer().ref]), "erin": ("observer", [ssh_signer.ref])},
                     {"manifest": {"observer": 1}})
    env = manifest_envelope(root, ssh_signer)
    assert env.signatures[0].sig.startswith(b"SSHSIG")
    assert count_envelope(root, "manifest", env).ok
    # an SSHSIG made under another namespace does not count
    other_ns = sshsig.sign_ed25519(k, env.pae(), namespace="git")
    env2 = Envelope(env.payload, env.payload_type, [Signature(other_ns)])
    assert not count_envelope(root, "manifest", env2).ok


def test_root_trust_needs_an_anchor_and_a_threshold() -> None:
    a, b = signer(), signer()
    root = make_root({"alice": ("directorate", [a.ref]), "bob": ("directorate", [b.ref])}, {})
    env = Envelope(root.payload, ROOT_PAYLOAD_TYPE)
    with pytest.raises(VerificationError, match="no root of trust"):
        establish_trust([env.to_bytes()])
    with pytest.raises(VerificationError, match="self-signed: directorate 0/1"):
        establish_trust([env.to_bytes()], pin=root.digest)
    env.add(Signature(a.sign(env.pae())))
    trusted = establish_trust([env.to_bytes()], pin=root.digest)
    assert trusted.root.version == 1 and "pinned by the auditor" in trusted.notes[0]


def _signed_root_env(root: Root, *signers: Ed25519Signer) -> bytes:
    env = Envelope(root.payload, ROOT_PAYLOAD_TYPE)
    for s in signers:
        env.add(Signature(s.sign(env.pae())))
    return env.to_bytes()


def test_trusted_root_file_ignores_older_versions_and_refuses_forks() -> None:
    a = signer()
    v1 = make_root({"alice": ("directorate", [a.ref])}, {})
    v2 = new_root(election="e", ceremony="c", expires=dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
                  people=v1.people, thresholds=v1.thresholds, journal_origin="o", journal_key=None,
                  tsas=[], previous=v1)
    v1b, v2b = _signed_root_env(v1, a), _signed_root_env(v2, a)
    trusted = establish_trust([v1b, v2b], trusted=v2b)
    assert trusted.root.version == 2 and "root file brought by the auditor" in trusted.notes[0]
    fork = new_root(election="e", ceremony="c", expires=dt.datetime(2098, 1, 1, tzinfo=dt.UTC),
                    people=v1.people, thresholds=v1.thresholds, journal_origin="o", journal_key=None,
                    tsas=[], previous=v1)
    with pytest.raises(VerificationError, match="different root v2 than the trusted one"):
        establish_trust([v1b, _signed_root_env(fork, a)], trusted=v2b)
    with pytest.raises(VerificationError, match="version 3 does not follow version 1"):
        v3 = new_root(election="e", ceremony="c", expires=dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
                      people=v1.people, thresholds=v1.thresholds, journal_origin="o", journal_key=None,
                      tsas=[], previous=v2)
        establish_trust([v1b, _signed_root_env(v3, a)], pin=v1.digest)
