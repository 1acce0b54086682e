from __future__ import annotations

import base64
import json

import pytest

from freeze.errors import InputError
from freeze.evidence.dsse import Envelope, Signature, pae


def test_pae_matches_the_dsse_spec_test_vector() -> None:
    # secure-systems-lab/dsse protocol.md, "Test Vectors"
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_lengths_are_bytes_not_characters() -> None:
    assert pae("t/\u00e9", "\u00e9".encode()) == b"DSSEv1 4 t/\xc3\xa9 2 \xc3\xa9"


def test_envelope_round_trip_keeps_payload_bytes() -> None:
    payload = b'{"b": 1,  "a": 2}'  # not canonical on purpose: must survive untouched
    env = Envelope(payload, "application/vnd.in-toto+json", [Signature(b"\x01" * 64, "k1")])
    again = Envelope.from_bytes(env.to_bytes())
    assert again.payload == payload and again.signatures == env.signatures


def test_url_safe_base64_is_accepted() -> None:
    raw = b"\xfb\xff\xfe" * 10
    doc = {"payload": base64.urlsafe_b64encode(raw).decode().rstrip("="), "payloadType": "x",
           "signatures": [{"sig": base64.urlsafe_b64encode(b"\xff" * 64).decode()}]}
    env = Envelope.from_bytes(json.dumps(doc).encode())
    assert env.payload == raw and env.signatures[0].sig == b"\xff" * 64


@pytest.mark.parametrize("data, message", [
    (b"{not json", "not valid JSON"),
    (b"[]", "expected a JSON object"),
    (b'{"payload": "eA==", "signatures": []}', "payload/payloadType missing"),
    (b'{"payload": "eA==", "payloadType": "x", "signatures": {}}', "signatures must be a list"),
    (b'{"payload": "e!!", "payloadType": "x", "signatures": []}', "not base64"),
    (b'{"payload": "eA==", "payloadType": "x", "signatures": [{"keyid": "k"}]}', "signature #0 is malformed"),
])
def test_malformed_envelopes_are_input_errors(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Envelope.from_bytes(data)


def test_the_same_signature_cannot_be_added_twice() -> None:
    env = Envelope(b"x", "t", [Signature(b"s" * 64)])
    with pytest.raises(InputError, match="already"):
        env.add(Signature(b"s" * 64, "other-id"))
