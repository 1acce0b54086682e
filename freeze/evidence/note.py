"""C2SP signed notes, tlog checkpoints and Ed25519 cosignatures (cosignature/v1).

  checkpoint body = "<origin>\\n<tree size>\\n<base64 root hash>\\n"
  note            = body + "\\n" + one line per signature: "— <name> base64(keyID || sig)\\n"
  log signature   : type 0x01, Ed25519 over the body
  cosignature/v1  : type 0x04, sig = u64 big-endian POSIX time || Ed25519 over
                    "cosignature/v1\\ntime <t>\\n" + body
  keyID           = SHA-256(name || 0x0A || type || 32-byte public key)[:4]
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from freeze.errors import InputError

EM_DASH = "\u2014"
SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 64
_NAME = re.compile(r"^[^\s+]+$")


def key_id(name: str, sig_type: int, public_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_raw).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    def short(self) -> str:
        """The line for the paper minutes (~100 characters)."""
        return f"{self.origin} {self.size} {base64.b64encode(self.root).decode()}"

    @classmethod
    def parse_body(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise InputError("checkpoint: body must be origin, size, root hash lines")
        origin, size, root_b64 = lines[0], lines[1], lines[2]
        if not origin or not re.fullmatch(r"0|[1-9][0-9]*", size):
            raise InputError("checkpoint: bad origin or tree size")
        try:
            root = base64.b64decode(root_b64, validate=True)
        except ValueError:
            raise InputError("checkpoint: root hash is not base64") from None
        if len(root) != 32:
            raise InputError("checkpoint: root hash must be 32 bytes")
        return cls(origin, int(size), root)

    @classmethod
    def parse_short(cls, line: str) -> Checkpoint:
        parts = line.split()
        if len(parts) != 3:
            raise InputError("checkpoint line must be: ORIGIN SIZE ROOT-BASE64")
        return cls.parse_body("\n".join(parts) + "\n")


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    sig: bytes

    def line(self) -> str:
        return f"{EM_DASH} {self.name} {base64.b64encode(self.key_id + self.sig).decode()}\n"


@dataclass
class SignedNote:
    text: str
    signatures: list[NoteSignature]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    @classmethod
    def parse(cls, data: str) -> SignedNote:
        if any(ord(c) < 0x20 and c != "\n" for c in data):
            raise InputError("signed note: control characters are not allowed")
        idx = data.rfind("\n\n")
        if idx < 0 or not data.endswith("\n"):
            raise InputError("signed note: no blank line before the signatures")
        text, sig_block = data[: idx + 1], data[idx + 2 :]
        sigs = []
        for line in sig_block.splitlines():
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != EM_DASH or not _NAME.match(parts[1]):
                raise InputError(f"signed note: malformed signature line {line[:60]!r}")
            try:
                raw = base64.b64decode(parts[2], validate=True)
            except ValueError:
                raise InputError("signed note: signature is not base64") from None
            if len(raw) < 5:
                raise InputError("signed note: signature too short")
            sigs.append(NoteSignature(parts[1], raw[:4], raw[4:]))
        if not sigs:
            raise InputError("signed note: no signatures")
        if len(sigs) > MAX_SIGNATURES:
            raise InputError("signed note: too many signatures")
        return cls(text, sigs)

    def add(self, sig: NoteSignature) -> None:
        self.signatures = [s for s in self.signatures if (s.name, s.key_id) != (sig.name, sig.key_id)]
        self.signatures.append(sig)


def sign_log(body: str, name: str, sign_raw: Callable[[bytes], bytes], public_raw: bytes) -> NoteSignature:
    return NoteSignature(name, key_id(name, SIG_ED25519, public_raw), sign_raw(body.encode()))


def verify_log(note: SignedNote, name: str, public_raw: bytes) -> bool:
    kid = key_id(name, SIG_ED25519, public_raw)
    matches = [s for s in note.signatures if s.name == name and s.key_id == kid]
    return bool(matches) and all(_ed_verify(public_raw, s.sig, note.text.encode()) for s in matches)


def cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


def cosign(body: str, name: str, timestamp: int, sign_raw: Callable[[bytes], bytes],
           public_raw: bytes) -> NoteSignature:
    if not _NAME.match(name):
        raise InputError(f"cosigner name {name!r} must not contain spaces or '+'")
    sig = sign_raw(cosigned_message(body, timestamp))
    return NoteSignature(name, key_id(name, SIG_COSIGNATURE_V1, public_raw), struct.pack(">Q", timestamp) + sig)


def verify_cosignature(note: SignedNote, name: str, public_raw: bytes) -> int | None:
    """POSIX time of a valid cosignature by (name, key), or None. Unknown keys are ignored."""
    kid = key_id(name, SIG_COSIGNATURE_V1, public_raw)
    for s in note.signatures:
        if s.name == name and s.key_id == kid and len(s.sig) == 72:
            (ts,) = struct.unpack(">Q", s.sig[:8])
            if ts < 2**63 and _ed_verify(public_raw, s.sig[8:], cosigned_message(note.text, ts)):
                return int(ts)
    return None


def _ed_verify(public_raw: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True
