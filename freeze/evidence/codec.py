"""Small encodings shared by the evidence modules."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from freeze.errors import InputError

_B64_CHARS = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, *, what: str) -> bytes:
    """Decode standard OR URL-safe base64 (DSSE requires verifiers to accept both)."""
    if not isinstance(text, str) or not _B64_CHARS.match(text):
        raise InputError(f"{what}: not base64")
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{what}: bad base64 ({exc})") from None


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON for documents WE create (sorted keys, no spaces, UTF-8).

    Only used when producing bytes; verification always works on the exact bytes
    that were signed and never re-serializes them.
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _DuplicateKey(dup)
    return d


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(data: bytes, *, what: str) -> Any:
    """Strict JSON: a duplicate key or NaN/Infinity is refused, not silently resolved.

    Python keeps the last of two equal keys, other parsers the first or refuse: signed
    bytes must mean the same thing to every tool an auditor might read them with.
    """
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        raise InputError(f"{what}: duplicate key {exc.args[0]!r} in a JSON object (ambiguous)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{what}: not valid JSON ({exc})") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_sha256_hex(text: object) -> bool:
    return isinstance(text, str) and re.fullmatch(r"[0-9a-f]{64}", text) is not None
