"""RFC 3161 trusted time over signature bytes.

Each DSSE signature gets tokens from one or more TSAs named in the ceremony root,
over the raw signature bytes (the Sigstore rule: a timestamp over the signature
proves the signature existed at that time). Fetching is the only network use in
this package, done with urllib imported inside `fetch` so the verification path
never loads an HTTP client. Verification is offline: rfc3161-client checks the
token's CMS signature and chain against the TSA roots in the ceremony root, and
we check the message imprint is the hash of exactly these signature bytes.

Sidecar format (ENVELOPE.timestamps.json, copied into the bundle):
  {"timestamps": [{"signature_sha256": hex, "tsa": name-or-url, "response": base64 TSR}]}
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freeze.durable import atomic_write
from freeze.errors import InputError, UnavailableError, VerificationError
from freeze.evidence.codec import b64decode, b64encode, canonical_json, parse_json
from freeze.evidence.root import Tsa
from freeze.inputs import read_input

CONTENT_TYPE_QUERY = "application/timestamp-query"
CONTENT_TYPE_REPLY = "application/timestamp-reply"
MAX_REPLY = 1024 * 1024


@dataclass(frozen=True)
class TimestampRecord:
    signature_sha256: str
    tsa: str
    response: bytes

    def to_dict(self) -> dict[str, Any]:
        return {"signature_sha256": self.signature_sha256, "tsa": self.tsa, "response": b64encode(self.response)}


def sidecar_path(envelope_path: Path) -> Path:
    return envelope_path.with_name(envelope_path.name + ".timestamps.json")


def load_sidecar(path: Path) -> list[TimestampRecord]:
    if not path.exists():
        return []
    return parse_sidecar(read_input(path, "timestamp sidecar"), what=str(path))


def parse_sidecar(data: bytes, *, what: str) -> list[TimestampRecord]:
    d = parse_json(data, what=what)
    try:
        return [
            TimestampRecord(str(t["signature_sha256"]), str(t["tsa"]), b64decode(t["response"], what=what))
            for t in d["timestamps"]
        ]
    except (KeyError, TypeError):
        raise InputError(f"{what}: malformed timestamp sidecar") from None


def save_sidecar(path: Path, records: list[TimestampRecord]) -> None:
    atomic_write(path, canonical_json({"timestamps": [r.to_dict() for r in records]}) + b"\n")


def fetch(url: str, signature: bytes, *, timeout: float = 30.0) -> bytes:
    """POST an RFC 3161 query for sha256(signature) to `url`; return the checked reply."""
    import urllib.error
    import urllib.request

    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

    if not url.startswith(("http://", "https://")):
        raise InputError(f"TSA URL must be http(s): {url}")
    req = (
        TimestampRequestBuilder()
        .data(signature)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    http = urllib.request.Request(
        url, data=req.as_bytes(), method="POST", headers={"Content-Type": CONTENT_TYPE_QUERY}
    )
    try:
        with urllib.request.urlopen(http, timeout=timeout) as resp:  # noqa: S310 - configured TSA URL
            body = resp.read(MAX_REPLY + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise UnavailableError(f"TSA {url} unreachable: {exc}") from None
    if len(body) > MAX_REPLY:
        raise InputError(f"TSA {url}: reply too large")
    try:
        tsr = decode_timestamp_response(body)
    except ValueError as exc:
        raise InputError(f"TSA {url}: not a timestamp reply ({exc})") from None
    if tsr.status not in (0, 1):
        raise InputError(f"TSA {url}: request refused (PKIStatus {tsr.status})")
    if tsr.tst_info.nonce != req.nonce:
        raise InputError(f"TSA {url}: nonce mismatch (reply is not for our request)")
    if tsr.tst_info.message_imprint.message != hashlib.sha256(signature).digest():
        raise InputError(f"TSA {url}: reply timestamps other bytes")
    return bytes(body)


def verify(record: TimestampRecord, signature: bytes, tsas: list[Tsa]) -> tuple[dt.datetime, str]:
    """Offline: the token is a valid TSA signature over hash(signature). Returns (genTime, TSA name)."""
    from cryptography import x509
    from rfc3161_client import VerifierBuilder, decode_timestamp_response
    from rfc3161_client.errors import VerificationError as TsVerificationError

    tsa = next((t for t in tsas if record.tsa in (t.name, t.url)), None)
    if tsa is None:
        raise VerificationError(f"timestamp from {record.tsa!r}, a TSA the ceremony root does not name")
    if record.signature_sha256 != hashlib.sha256(signature).hexdigest():
        raise VerificationError(f"timestamp from {tsa.name} is recorded for other signature bytes")
    try:
        tsr = decode_timestamp_response(record.response)
    except ValueError as exc:
        raise VerificationError(f"timestamp from {tsa.name}: unreadable token ({exc})") from None
    imprint = tsr.tst_info.message_imprint
    if imprint.message != hashlib.sha256(signature).digest():
        raise VerificationError(f"timestamp from {tsa.name} is over other bytes than this signature")
    builder = VerifierBuilder()
    try:
        for pem in tsa.certificates:
            builder = builder.add_root_certificate(x509.load_pem_x509_certificate(pem.encode()))
        builder.build().verify_message(tsr, signature)
    except (TsVerificationError, ValueError) as exc:
        raise VerificationError(f"timestamp from {tsa.name} does not verify: {exc}") from None
    return tsr.tst_info.gen_time.astimezone(dt.UTC), tsa.name
