"""Signing keys and their identity.

A key in the ceremony root is either
  {"type": "ed25519", "public": "<base64 32-byte key>"}  signs DSSE PAE directly, or
  {"type": "ssh", "public": "ssh-ed25519 AAAA... comment"}  signs PAE via SSHSIG.

`KeyRef.identity` names the KEY MATERIAL, not a key id: the same Ed25519 key
listed twice, or once as ed25519 and once as ssh-ed25519, has one identity, so
threshold counting cannot be fooled by relabelling (the python-tuf / go-tuf
duplicate-keyid bug class).

Private keys live in passphrase-protected files: Ed25519 in encrypted PKCS#8 PEM
(`freeze keygen`), or an OpenSSH private key. The passphrase comes from a prompt,
an environment variable NAME, or a file: never from argv, where `ps` shows it.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from freeze.durable import atomic_write
from freeze.errors import InputError, UnavailableError, UsageError
from freeze.evidence import sshsig
from freeze.evidence.codec import b64decode, b64encode
from freeze.inputs import read_input

# Ed25519 curve constants (RFC 8032 section 5.1), for the small-order check below.
_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _ed25519_point(raw: bytes) -> tuple[int, int] | None:
    """Decode a public key to an affine point (RFC 8032 5.1.3); None if not canonical/on the curve."""
    y = int.from_bytes(raw, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P or (x == 0 and sign):
        return None
    return (_P - x if x & 1 != sign else x), y


def _ed25519_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    return (x1 * y2 + y1 * x2) * pow(1 + t, _P - 2, _P) % _P, (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P


def check_ed25519_public(raw: bytes, *, what: str) -> bytes:
    """Refuse keys anyone can sign for.

    OpenSSL's Ed25519 verify accepts R = identity, S = 0 over ANY message when the
    public key is the identity point, and similar forgeries for the other small-order
    points: a root listing such a key (or several encodings of one, as invented
    people) would let anybody reach a threshold. Real keys have prime order L.
    """
    point = _ed25519_point(raw) if len(raw) == 32 else None
    if point is None:
        raise InputError(f"{what}: not a valid Ed25519 public key")
    for _ in range(3):  # 8 * A is the identity exactly when A has small order
        point = _ed25519_add(point, point)
    if point == (0, 1):
        raise InputError(f"{what}: Ed25519 key of small order (anyone can forge signatures for it)")
    return raw


@dataclass(frozen=True)
class KeyRef:
    """A public key as the ceremony root lists it."""

    kind: str  # "ed25519" | "ssh"
    material: bytes  # ed25519: raw 32 bytes; ssh: the SSH wire-format public key blob

    @property
    def identity(self) -> str:
        raw = self.raw_ed25519()
        if raw is not None:
            return "ed25519:" + hashlib.sha256(raw).hexdigest()
        return "ssh:" + hashlib.sha256(self.material).hexdigest()

    @property
    def short(self) -> str:
        return self.identity.split(":")[1][:16]

    def raw_ed25519(self) -> bytes | None:
        if self.kind == "ed25519":
            return self.material
        algo, raw = sshsig.parse_wire_key(self.material)
        return raw

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Verify a DSSE signature entry made by this key over `message` (the PAE)."""
        if self.kind == "ed25519":
            if len(signature) != 64:
                return False
            try:
                ed25519.Ed25519PublicKey.from_public_bytes(self.material).verify(signature, message)
            except InvalidSignature:
                return False
            return True
        return sshsig.verify(signature, message, self.material)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "ed25519":
            return {"type": "ed25519", "public": b64encode(self.material)}
        return {"type": "ssh", "public": self.openssh()}

    def openssh(self) -> str:
        blob = self.material if self.kind == "ssh" else sshsig.ed25519_wire_key(self.material)
        algo, _ = sshsig.parse_wire_key(blob)
        return f"{algo} {base64.b64encode(blob).decode()}"

    @classmethod
    def from_dict(cls, obj: object, *, what: str) -> KeyRef:
        if not isinstance(obj, dict) or not isinstance(obj.get("public"), str):
            raise InputError(f"{what}: a key needs 'type' and 'public'")
        kind = obj.get("type")
        if kind == "ed25519":
            raw = b64decode(obj["public"], what=what)
            if len(raw) != 32:
                raise InputError(f"{what}: an Ed25519 public key is 32 bytes")
            return cls("ed25519", check_ed25519_public(raw, what=what))
        if kind == "ssh":
            return cls.from_openssh(obj["public"], what=what)
        raise InputError(f"{what}: key type must be 'ed25519' or 'ssh', not {kind!r}")

    @classmethod
    def from_openssh(cls, line: str, *, what: str) -> KeyRef:
        parts = line.split()
        if len(parts) < 2:
            raise InputError(f"{what}: not an OpenSSH public key line")
        blob = b64decode(parts[1], what=what)
        algo, raw = sshsig.parse_wire_key(blob)
        if algo != parts[0]:
            raise InputError(f"{what}: OpenSSH key type does not match its blob")
        if algo != "ssh-ed25519" or raw is None:
            raise InputError(f"{what}: only ssh-ed25519 OpenSSH keys are supported, not {algo}")
        check_ed25519_public(raw, what=what)
        return cls("ssh", blob)


def load_public_key_file(path: Path) -> KeyRef:
    """A public key file: PEM SubjectPublicKeyInfo (Ed25519) or an OpenSSH .pub line."""
    data = _read(path)
    text = data.decode("utf-8", "replace").strip()
    if text.startswith("ssh-"):
        return KeyRef.from_openssh(text.splitlines()[0], what=str(path))
    try:
        pub = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise InputError(f"{path}: not a PEM or OpenSSH public key") from None
    if not isinstance(pub, ed25519.Ed25519PublicKey):
        raise InputError(f"{path}: holds a {type(pub).__name__}; freeze keys are Ed25519")
    return KeyRef("ed25519", check_ed25519_public(pub.public_bytes_raw(), what=str(path)))


# ---------------------------------------------------------------------------
# passphrases
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PassphraseSource:
    env: str | None = None  # NAME of an environment variable, never the value
    file: Path | None = None

    def get(self, *, prompt: str, confirm: bool = False) -> bytes:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise UsageError(f"environment variable {self.env} is not set")
            return _nonempty(value.encode())
        if self.file:
            return _nonempty(_read(self.file).rstrip(b"\r\n"))
        if not sys.stdin.isatty():
            raise UsageError(
                "a passphrase is needed: no terminal to prompt on; use --passphrase-env NAME "
                "or --passphrase-file FILE"
            )
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("again: ") != first:
            raise UsageError("the two passphrases differ")
        return _nonempty(first.encode())

    @property
    def interactive(self) -> bool:
        """Typed at a terminal prompt (a mistyped one may be typed again)."""
        return not self.env and not self.file and sys.stdin.isatty()


PASSPHRASE_TRIES = 3  # at a terminal prompt; a passphrase from env or file gets one try

T = TypeVar("T")


def _decrypt(path: Path, passphrases: PassphraseSource, load: Callable[[bytes], T]) -> T:
    """`load(passphrase)`, asking again after a wrong one when a person is typing it."""
    tries = PASSPHRASE_TRIES if passphrases.interactive else 1
    for attempt in range(1, tries + 1):
        prompt = (f"passphrase for {path}: " if attempt == 1 else
                  f"wrong passphrase; passphrase for {path} (try {attempt} of {tries}): ")
        password = passphrases.get(prompt=prompt)
        try:
            return load(password)
        except (ValueError, TypeError):
            if attempt == tries:
                raise InputError(f"{path}: wrong passphrase, or the key file is damaged") from None
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _nonempty(value: bytes) -> bytes:
    if not value:
        raise UsageError("empty passphrase")
    return value


# ---------------------------------------------------------------------------
# signers
# ---------------------------------------------------------------------------


class Signer:
    """Signs DSSE PAE bytes. `ref` is the public key as the root lists it."""

    ref: KeyRef

    def sign(self, message: bytes) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def sign_raw_ed25519(self, message: bytes) -> bytes:
        """Plain Ed25519 signature (signed notes / checkpoint cosignatures)."""
        raise InputError("this key cannot make plain Ed25519 signatures (needed for checkpoints)")


class Ed25519Signer(Signer):
    def __init__(self, key: ed25519.Ed25519PrivateKey, *, kind: str = "ed25519") -> None:
        self._key = key
        raw = key.public_key().public_bytes_raw()
        self.ref = KeyRef("ed25519", raw) if kind == "ed25519" else KeyRef(
            "ssh", sshsig.ed25519_wire_key(raw)
        )

    def sign(self, message: bytes) -> bytes:
        if self.ref.kind == "ssh":
            return sshsig.sign_ed25519(self._key, message)
        return self._key.sign(message)

    def sign_raw_ed25519(self, message: bytes) -> bytes:
        return self._key.sign(message)


def generate_key_file(
    path: Path, passphrase: bytes | None, *, unsafe_unencrypted: bool = False
) -> KeyRef:
    """Write a new Ed25519 private key (encrypted PKCS#8 PEM, mode 0600) and its .pub.pem."""
    if passphrase is None and not unsafe_unencrypted:
        raise UsageError("refusing to write an unencrypted private key")
    key = ed25519.Ed25519PrivateKey.generate()
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase is not None
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    check_new_key_path(path)
    pub_path = public_path_for(path)
    try:
        # private: 0600 from creation on; exclusive: a key is never replaced
        atomic_write(path, pem, 0o600, exclusive=True)
        atomic_write(pub_path, pub, 0o644, exclusive=True)
    except FileExistsError as exc:
        raise UsageError(f"{exc.filename2 or path} already exists; not overwriting a key") from None
    return KeyRef("ed25519", key.public_key().public_bytes_raw())


def check_new_key_path(path: Path) -> None:
    """Refuse, before any passphrase is asked for, a key path that cannot be written.

    A missing directory is not created: a typo in the path would otherwise leave a
    private key in a directory nobody meant to hold one. The key holder makes it.
    """
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a directory; create it first (mode 0700) "
                         "where this private key should live")
    for p in (path, public_path_for(path)):
        if p.exists():
            raise UsageError(f"{p} already exists; not overwriting a key")


def public_path_for(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".pem") + ".pub.pem")


def load_signer(
    path: Path, passphrases: PassphraseSource, *, unsafe_unencrypted: bool = False
) -> Signer:
    """Load a private key file: encrypted PKCS#8 PEM (Ed25519) or OpenSSH (ssh-ed25519)."""
    if str(path).startswith("pkcs11:"):
        return Pkcs11Signer(str(path), passphrases)
    data = _read(path)
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        return _load_openssh(path, data, passphrases, unsafe_unencrypted)
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data:
        try:
            key = _decrypt(path, passphrases,
                           lambda password: serialization.load_pem_private_key(data, password=password))
        except UnsupportedAlgorithm:
            raise InputError(f"{path}: unsupported key algorithm") from None
    elif b"-----BEGIN" in data and b"PRIVATE KEY-----" in data:
        if not unsafe_unencrypted:
            raise InputError(
                f"{path}: private key is not passphrase-protected; re-create it with "
                "`freeze keygen` (unencrypted keys are refused)"
            )
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise InputError(f"{path}: not a readable private key") from None
    else:
        raise InputError(f"{path}: not a private key file (PEM or OpenSSH)")
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InputError(f"{path}: holds a {type(key).__name__}; freeze signs with Ed25519 keys")
    return Ed25519Signer(key)


def _load_openssh(
    path: Path, data: bytes, passphrases: PassphraseSource, unsafe_unencrypted: bool
) -> Signer:
    try:
        key = serialization.load_ssh_private_key(data, password=None)
        if not unsafe_unencrypted:
            raise InputError(
                f"{path}: OpenSSH private key is not passphrase-protected "
                "(protect it with `ssh-keygen -p -f KEY`)"
            )
    except TypeError:  # encrypted: needs the passphrase
        key = _decrypt(path, passphrases,
                       lambda password: serialization.load_ssh_private_key(data, password=password))
    except (ValueError, UnsupportedAlgorithm):
        raise InputError(f"{path}: not a readable OpenSSH private key") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InputError(f"{path}: holds a {type(key).__name__}; only ssh-ed25519 is supported")
    return Ed25519Signer(key, kind="ssh")


class Pkcs11Signer(Signer):
    """Ed25519 key on a PKCS#11 token (optional; needs the python-pkcs11 package).

    URI form: pkcs11:token=LABEL;object=KEYLABEL, module path from FREEZE_PKCS11_MODULE,
    PIN from the passphrase source. python-pkcs11 is NOT a dependency of this
    project: without it this signer reports that plainly instead of failing later.
    """

    def __init__(self, uri: str, passphrases: PassphraseSource) -> None:
        try:
            import pkcs11
            from pkcs11 import KeyType, Mechanism, ObjectClass
        except ImportError:
            raise UnavailableError(
                "PKCS#11 keys need the optional python-pkcs11 package, which is not installed"
            ) from None
        attrs = dict(p.split("=", 1) for p in uri.removeprefix("pkcs11:").split(";") if "=" in p)
        module = os.environ.get("FREEZE_PKCS11_MODULE")
        if not module or "token" not in attrs or "object" not in attrs:
            raise UsageError("pkcs11 key: set FREEZE_PKCS11_MODULE and use pkcs11:token=T;object=K")
        lib = pkcs11.lib(module)
        token = lib.get_token(token_label=attrs["token"])
        pin = passphrases.get(prompt=f"PIN for token {attrs['token']}: ").decode()
        self._session = token.open(user_pin=pin)
        self._priv = self._session.get_key(
            object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC_EDWARDS, label=attrs["object"]
        )
        pub = self._session.get_key(
            object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.EC_EDWARDS, label=attrs["object"]
        )
        point = pub[pkcs11.Attribute.EC_POINT]
        raw = point[-32:]  # DER OCTET STRING wrapping the 32-byte key
        self._mech = Mechanism.EDDSA
        self.ref = KeyRef("ed25519", bytes(raw))

    def sign(self, message: bytes) -> bytes:
        return bytes(self._priv.sign(message, mechanism=self._mech))

    def sign_raw_ed25519(self, message: bytes) -> bytes:
        return self.sign(message)


def _read(path: Path) -> bytes:
    return read_input(path, "file")
