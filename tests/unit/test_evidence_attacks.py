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
