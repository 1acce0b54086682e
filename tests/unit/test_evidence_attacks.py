"""Adversarial inputs to the evidence primitives: each once verified, crashed or parsed ambiguously."""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric import ed25519

from freeze.evidence import sshsig
from freeze.evidence.sshsig import MAGIC, ssh_string


def _sshsig_with_inner(pub_wire: bytes, hash_alg: bytes, inner: bytes) -> bytes:
    return (MAGIC + struct.pack(">I", 1) + ssh_string(pub_wire) + ssh_string(sshsig.NAMESPACE.encode())
            + ssh_string(b"") + ssh_string(hash_alg) + ssh_string(inner))


def test_sshsig_inner_signature_is_parsed_strictly() -> None:
    """A wrong inner algorithm raised AssertionError inside the sshsig package (the verifier
    crashed on a stray envelope signature); junk after the inner signature still verified,
    giving a second byte string for the same signature."""
    key = ed25519.Ed25519PrivateKey.generate()
    msg = b"DSSEv1 3 abc 3 xyz"
    good = sshsig.sign_ed25519(key, msg)
    pub_wire = sshsig.ed25519_wire_key(key.public_key().public_bytes_raw())
    assert sshsig.verify(good, msg, pub_wire)
    fields = sshsig.parse_blob(good)
    algo, pos = sshsig._read_string(fields["signature"], 0)
    raw_sig, _ = sshsig._read_string(fields["signature"], pos)
    assert algo == b"ssh-ed25519" and len(raw_sig) == 64
    variants = {
        "inner algorithm ssh-rsa": ssh_string(b"ssh-rsa") + ssh_string(raw_sig),
        "junk after the inner signature": fields["signature"] + b"junk",
        "inner signature too long": ssh_string(b"ssh-ed25519") + ssh_string(raw_sig + b"\0"),
        "inner signature truncated": ssh_string(b"ssh-ed25519") + ssh_string(raw_sig)[:-1],
    }
    for what, inner in variants.items():
        blob = _sshsig_with_inner(pub_wire, fields["hash_alg"], inner)
        assert sshsig.verify(blob, msg, pub_wire) is False, what


_P = 2**255 - 19
SMALL_ORDER_KEYS = {
    "identity": bytes([1]) + bytes(31),
    "order 2": (_P - 1).to_bytes(32, "little"),
    "order 4": bytes(32),
    "order 4, other sign": bytes(31) + b"\x80",
    "order 8": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c6333" "9b13802886d53fc05"),
    "order 8, other": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc6" "4ec7fd7792ac037a"),
    "identity, non-canonical y": (_P + 1).to_bytes(32, "little"),
}


def test_small_order_ed25519_keys_are_refused() -> None:
    """With the identity point as public key, OpenSSL accepts R=identity, S=0 as a signature
    over ANY message: a root listing such a key lets anyone sign as that person (or as
    several invented people, one per small-order encoding)."""
    import base64

    import pytest
    from cryptography.hazmat.primitives.asymmetric import ed25519 as ed

    from freeze.errors import InputError
    from freeze.evidence.keys import KeyRef

    forged = SMALL_ORDER_KEYS["identity"] + bytes(32)
    ed.Ed25519PublicKey.from_public_bytes(SMALL_ORDER_KEYS["identity"]).verify(forged, b"any statement at all")
    for what, raw in SMALL_ORDER_KEYS.items():
        with pytest.raises(InputError, match="small order|not a valid Ed25519"):
            KeyRef.from_dict({"type": "ed25519", "public": base64.b64encode(raw).decode()}, what=what)
        wire = sshsig.ed25519_wire_key(raw)
        with pytest.raises(InputError, match="small order|not a valid Ed25519"):
            KeyRef.from_openssh("ssh-ed25519 " + base64.b64encode(wire).decode(), what=what)
    for _ in range(20):  # real keys are untouched
        raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        assert KeyRef.from_dict({"type": "ed25519", "public": base64.b64encode(raw).decode()}, what="k").material == raw


def test_small_order_key_in_a_pem_file_is_refused(tmp_path) -> None:  # noqa: ANN001
    import pytest
    from cryptography.hazmat.primitives import serialization

    from freeze.errors import InputError
    from freeze.evidence.keys import load_public_key_file

    pem = ed25519.Ed25519PublicKey.from_public_bytes(SMALL_ORDER_KEYS["order 8"]).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "weak.pub.pem").write_bytes(pem)
    with pytest.raises(InputError, match="small order"):
        load_public_key_file(tmp_path / "weak.pub.pem")


def test_json_with_duplicate_keys_or_non_json_numbers_is_refused() -> None:
    """Python keeps the LAST of two equal keys; other parsers keep the first or refuse.
    A signed statement with two predicateType (or subject) members meant one thing to
    this verifier and another to a stock tool an observer might use to read it."""
    import pytest

    from freeze.errors import InputError, VerificationError
    from freeze.evidence import statement
    from freeze.evidence.codec import parse_json
    from freeze.evidence.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope

    with pytest.raises(InputError, match="duplicate key 'a'"):
        parse_json(b'{"a": 1, "b": {"a": 1}, "a": 2}', what="x")
    with pytest.raises(InputError, match="duplicate key 'c'"):
        parse_json(b'[{"c": 1, "c": 1}]', what="x")
    for text in (b'{"n": NaN}', b'{"n": Infinity}', b'{"n": -Infinity}'):
        with pytest.raises(InputError, match="not valid JSON"):
            parse_json(text, what="x")
    assert parse_json(b'{"a": {"a": 1}, "b": [1, 2.5, null]}', what="x") == {"a": {"a": 1}, "b": [1, 2.5, None]}

    payload = (
        b'{"_type":"https://in-toto.io/Statement/v1",'
        b'"predicateType":"' + statement.PREDICATE_TYPES["zero-report"].encode() + b'",'
        b'"subject":[{"name":"m","digest":{"sha256":"' + b"ab" * 32 + b'"}}],"predicate":{},'
        b'"predicateType":"' + statement.PREDICATE_TYPES["manifest"].encode() + b'"}'
    )
    with pytest.raises((InputError, VerificationError), match="duplicate key 'predicateType'"):
        statement.parse(Envelope(payload, IN_TOTO_PAYLOAD_TYPE), "manifest")


def test_envelope_with_too_many_signatures_is_refused() -> None:
    """Every signature is tried against every key of the root: 64 MiB of stray signatures
    (~600k) kept an auditor's verifier busy for many minutes."""
    import base64
    import json

    import pytest

    from freeze.errors import InputError
    from freeze.evidence.dsse import MAX_SIGNATURES, Envelope

    sig = base64.b64encode(b"\x01" * 64).decode()
    doc = {"payload": "e30=", "payloadType": "x", "signatures": [{"keyid": "", "sig": sig}] * MAX_SIGNATURES}
    assert len(Envelope.from_bytes(json.dumps(doc).encode()).signatures) == MAX_SIGNATURES
    doc["signatures"].append({"keyid": "", "sig": sig})
    with pytest.raises(InputError, match=f"more than {MAX_SIGNATURES} signatures"):
        Envelope.from_bytes(json.dumps(doc).encode())
