"""C2SP signed notes, checkpoints and cosignature/v1."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from freeze.errors import InputError
from freeze.evidence.note import (
    Checkpoint,
    SignedNote,
    cosign,
    cosigned_message,
    key_id,
    sign_log,
    verify_cosignature,
    verify_log,
)


def _key() -> tuple[ed25519.Ed25519PrivateKey, bytes]:
    k = ed25519.Ed25519PrivateKey.generate()
    return k, k.public_key().public_bytes_raw()


def test_key_id_is_sha256_of_name_newline_type_key() -> None:
    pub = bytes(range(32))
    assert key_id("example.com/w1", 0x04, pub) == hashlib.sha256(b"example.com/w1\n\x04" + pub).digest()[:4]


def test_checkpoint_with_log_signature_and_cosignatures_round_trips() -> None:
    log, log_pub = _key()
    wit, wit_pub = _key()
    cp = Checkpoint("example.org/log", 7, b"\x07" * 32)
    note = SignedNote(cp.body(), [sign_log(cp.body(), cp.origin, log.sign, log_pub)])
    note.add(cosign(note.text, "witness-1", 1700000000, wit.sign, wit_pub))
    text = note.render()
    assert text.startswith("example.org/log\n7\nBwcH")
    assert "\n\n\u2014 example.org/log " in text
    parsed = SignedNote.parse(text)
    assert verify_log(parsed, "example.org/log", log_pub)
    assert verify_cosignature(parsed, "witness-1", wit_pub) == 1700000000
    # the cosignature is keyID || u64 time || Ed25519 over "cosignature/v1\ntime T\n" + body
    sig = parsed.signatures[1].sig
    assert struct.unpack(">Q", sig[:8])[0] == 1700000000
    ed25519.Ed25519PublicKey.from_public_bytes(wit_pub).verify(sig[8:], cosigned_message(cp.body(), 1700000000))
    assert cosigned_message(cp.body(), 5).startswith(b"cosignature/v1\ntime 5\nexample.org/log\n")


def test_unknown_keys_are_ignored_and_wrong_keys_fail() -> None:
    log, log_pub = _key()
    _, other_pub = _key()
    cp = Checkpoint("o", 1, b"\x00" * 32)
    note = SignedNote(cp.body(), [sign_log(cp.body(), "o", log.sign, log_pub)])
    assert not verify_log(note, "o", other_pub)
    assert verify_cosignature(note, "o", log_pub) is None  # a log signature is not a cosignature


def test_a_changed_body_breaks_every_signature() -> None:
    log, log_pub = _key()
    cp = Checkpoint("o", 2, b"\x01" * 32)
    note = SignedNote(cp.body(), [sign_log(cp.body(), "o", log.sign, log_pub)])
    forged = SignedNote.parse(note.render().replace("\n2\n", "\n3\n", 1))
    assert not verify_log(forged, "o", log_pub)


@pytest.mark.parametrize("text", [
    "o\n1\nAAAA\n",  # no signatures
    "o\n1\nroot\n\n- o abc\n",  # not an em dash
    "o\n1\nroot\n\n\u2014 o !!!\n",  # not base64
    "o\x07\n1\n\n\u2014 o AAAAAAAA\n",  # control character
])
def test_malformed_notes(text: str) -> None:
    with pytest.raises(InputError):
        SignedNote.parse(text)


def test_short_checkpoint_line_parses() -> None:
    cp = Checkpoint("freeze.example/x", 12, b"\x02" * 32)
    assert Checkpoint.parse_short(cp.short()) == cp
    with pytest.raises(InputError):
        Checkpoint.parse_short("only two")
    assert base64.b64decode(cp.short().split()[2]) == b"\x02" * 32
