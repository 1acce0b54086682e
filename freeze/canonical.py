"""Canonical JSON bytes: the exact form a manifest is hashed and signed in.

Rules (a subset of RFC 8785 JCS that needs no number formatting rules):
  1. Values are objects, arrays, strings, integers, true, false, null. Floats are
     refused: their text form differs between implementations, and nothing we
     record needs them (times are integers in nanoseconds or RFC 3339 strings).
  2. Object keys are strings, unique, sorted by Unicode code point.
  3. No whitespace outside strings: separators are "," and ":".
  4. Strings are UTF-8, not \\u-escaped except the characters JSON requires
     (", \\, control characters U+0000-U+001F); lone surrogates are refused.
  5. No trailing newline; no byte order mark.
Any conforming re-encoding of the same data gives the same bytes, so
`sha256(to_bytes())` identifies the content independent of who wrote the file.
"""

from __future__ import annotations

import json
from typing import Any

from freeze.errors import InputError


def _check(value: Any, where: str = "$") -> None:
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(f"{where}: string is not valid Unicode") from None
        return
    if isinstance(value, float):
        raise InputError(f"{where}: floats are not allowed in canonical JSON")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(f"{where}: object key {key!r} is not a string")
            _check(key, f"{where}.<key>")
            _check(item, f"{where}.{key}")
        return
    raise InputError(f"{where}: {type(value).__name__} is not a JSON value")


def dumps(value: Any) -> bytes:
    """Canonical bytes of `value` (see module docstring)."""
    _check(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _reject_float(text: str) -> Any:
    raise ValueError("floats are not allowed")


def loads(data: bytes) -> Any:
    """Parse strict JSON: UTF-8, no duplicate keys, no NaN/Infinity, no floats."""
    text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return json.loads(
        text,
        object_pairs_hook=_reject_duplicates,
        parse_constant=_reject_constant,
        parse_float=_reject_float,
    )
