"""DSSE v1.0.2 envelopes (secure-systems-lab/dsse protocol.md, envelope.md).

A signature is over PAE(payloadType, payload), so the type is authenticated with
the body. The payload is kept as the exact bytes decoded from the envelope and
never re-serialized: adding a signature rewrites the envelope around the same
base64 payload string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from freeze.errors import InputError
from freeze.evidence.codec import b64decode, b64encode, canonical_json, parse_json

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_ENVELOPE_BYTES = 64 * 1024 * 1024
MAX_SIGNATURES = 256  # a ceremony has tens of signers; each signature is tried against every key


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-Authentication Encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    sig: bytes
    keyid: str = ""  # an unauthenticated hint only: never used to decide trust


@dataclass
class Envelope:
    payload: bytes
    payload_type: str
    signatures: list[Signature] = field(default_factory=list)

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload": b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": b64encode(s.sig)} for s in self.signatures],
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict()) + b"\n"

    def add(self, signature: Signature) -> None:
        if any(s.sig == signature.sig for s in self.signatures):
            raise InputError("this signature is already in the envelope")
        self.signatures.append(signature)

    @classmethod
    def from_bytes(cls, data: bytes, *, what: str = "envelope") -> Envelope:
        if len(data) > MAX_ENVELOPE_BYTES:
            raise InputError(f"{what}: larger than {MAX_ENVELOPE_BYTES} bytes")
        obj = parse_json(data, what=what)
        if not isinstance(obj, dict):
            raise InputError(f"{what}: not a DSSE envelope (expected a JSON object)")
        payload_b64 = obj.get("payload")
        payload_type = obj.get("payloadType")
        sigs = obj.get("signatures")
        if not isinstance(payload_b64, str) or not isinstance(payload_type, str):
            raise InputError(f"{what}: not a DSSE envelope (payload/payloadType missing)")
        if not isinstance(sigs, list):
            raise InputError(f"{what}: not a DSSE envelope (signatures must be a list)")
        if len(sigs) > MAX_SIGNATURES:
            raise InputError(f"{what}: more than {MAX_SIGNATURES} signatures")
        signatures = []
        for i, s in enumerate(sigs):
            if not isinstance(s, dict) or not isinstance(s.get("sig"), str):
                raise InputError(f"{what}: signature #{i} is malformed")
            keyid = s.get("keyid", "")
            if not isinstance(keyid, str):
                raise InputError(f"{what}: signature #{i} has a non-string keyid")
            signatures.append(Signature(sig=b64decode(s["sig"], what=f"{what} sig #{i}"), keyid=keyid))
        payload = b64decode(payload_b64, what=f"{what} payload")
        return cls(payload=payload, payload_type=payload_type, signatures=signatures)
