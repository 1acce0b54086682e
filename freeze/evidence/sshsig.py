"""OpenSSH SSHSIG signatures (openssh-portable PROTOCOL.sshsig).

Observers may sign with the OpenSSH key they already have, either with the stock
`ssh-keygen -Y sign -n NAMESPACE` or here in Python. The signed message is the
DSSE PAE of the envelope, so the payload type is bound exactly as for Ed25519
signatures; the SSHSIG namespace adds a second, SSH-level domain separation.

Layout (all "string" = uint32 big-endian length + bytes):
  blob   = "SSHSIG" uint32(1) string(publickey) string(namespace) string(reserved)
           string(hash_alg) string(signature)
  signed = "SSHSIG" string(namespace) string(reserved) string(hash_alg) string(H(message))

Creating signatures is ours (Ed25519 only); verification delegates the
cryptography to the `sshsig` package after our own strict parse, and checks that
the embedded key is the one the ceremony root names.
"""

from __future__ import annotations

import base64
import hashlib
import struct

from cryptography.hazmat.primitives.asymmetric import ed25519

from freeze.errors import InputError

MAGIC = b"SSHSIG"
NAMESPACE = "election-freeze-evidence-v1"
_ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_ARMOR_END = "-----END SSH SIGNATURE-----"


def ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise InputError("SSH signature: truncated")
    (n,) = struct.unpack(">I", buf[pos : pos + 4])
    end = pos + 4 + n
    if end > len(buf):
        raise InputError("SSH signature: truncated")
    return buf[pos + 4 : end], end


def ed25519_wire_key(raw: bytes) -> bytes:
    return ssh_string(b"ssh-ed25519") + ssh_string(raw)


def parse_wire_key(blob: bytes) -> tuple[str, bytes | None]:
    """(algorithm, raw Ed25519 key or None for other algorithms)."""
    algo, pos = _read_string(blob, 0)
    if algo == b"ssh-ed25519":
        raw, pos = _read_string(blob, pos)
        if len(raw) != 32 or pos != len(blob):
            raise InputError("SSH public key: malformed ssh-ed25519 key")
        return "ssh-ed25519", raw
    return algo.decode("ascii", "replace"), None


def signed_data(namespace: str, message: bytes, hash_alg: str = "sha512") -> bytes:
    digest = hashlib.new(hash_alg, message).digest()
    return (
        MAGIC
        + ssh_string(namespace.encode())
        + ssh_string(b"")
        + ssh_string(hash_alg.encode())
        + ssh_string(digest)
    )


def sign_ed25519(key: ed25519.Ed25519PrivateKey, message: bytes, namespace: str = NAMESPACE) -> bytes:
    """Return the binary SSHSIG blob (what `ssh-keygen -Y sign` armors)."""
    raw_pub = key.public_key().public_bytes_raw()
    sig = key.sign(signed_data(namespace, message))
    return (
        MAGIC
        + struct.pack(">I", 1)
        + ssh_string(ed25519_wire_key(raw_pub))
        + ssh_string(namespace.encode())
        + ssh_string(b"")
        + ssh_string(b"sha512")
        + ssh_string(ssh_string(b"ssh-ed25519") + ssh_string(sig))
    )


def parse_blob(blob: bytes) -> dict[str, bytes]:
    if not blob.startswith(MAGIC) or len(blob) < 10:
        raise InputError("SSH signature: SSHSIG magic not found")
    (version,) = struct.unpack(">I", blob[6:10])
    if version != 1:
        raise InputError(f"SSH signature: unsupported SSHSIG version {version}")
    fields = {}
    pos = 10
    for name in ("publickey", "namespace", "reserved", "hash_alg", "signature"):
        fields[name], pos = _read_string(blob, pos)
    if pos != len(blob):
        raise InputError("SSH signature: trailing bytes after the signature")
    if fields["hash_alg"] not in (b"sha256", b"sha512"):
        raise InputError("SSH signature: hash algorithm must be sha256 or sha512")
    # the inner signature is exactly string("ssh-ed25519") string(64 bytes): anything
    # else would reach the sshsig package unchecked (it asserts) or give one signature
    # several byte strings
    algo, pos = _read_string(fields["signature"], 0)
    raw, pos = _read_string(fields["signature"], pos)
    if algo != b"ssh-ed25519" or len(raw) != 64 or pos != len(fields["signature"]):
        raise InputError("SSH signature: the signature is not a plain ssh-ed25519 signature")
    return fields


def verify(blob: bytes, message: bytes, expected_wire_key: bytes, namespace: str = NAMESPACE) -> bool:
    """True iff `blob` is a valid SSHSIG by exactly `expected_wire_key` over `message`."""
    import io

    import sshsig as _sshsig  # the PyPI package, pure verification

    try:
        fields = parse_blob(blob)
    except InputError:
        return False
    if fields["publickey"] != expected_wire_key or fields["namespace"] != namespace.encode():
        return False
    try:
        key = _sshsig.check_signature(io.BytesIO(message), armor(blob), namespace)
    except (_sshsig.InvalidSignature, NotImplementedError, ValueError):
        return False
    return base64.b64decode(key.openssh_str().split()[1]) == expected_wire_key


def armor(blob: bytes) -> str:
    text = base64.b64encode(blob).decode("ascii")
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return "\n".join([_ARMOR_BEGIN, *lines, _ARMOR_END]) + "\n"


def dearmor(text: str) -> bytes:
    lines = [ln.strip() for ln in text.strip().splitlines()]
    if not lines or lines[0] != _ARMOR_BEGIN or lines[-1] != _ARMOR_END:
        raise InputError("SSH signature file: not an armored SSH SIGNATURE")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError:
        raise InputError("SSH signature file: bad base64") from None
