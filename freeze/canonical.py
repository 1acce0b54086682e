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

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from freeze.errors import InputError


def _check(value: Any, where: str = "$") -> None:
    """Refuse anything canonical JSON cannot carry (iterative: manifests are large)."""
    stack: list[tuple[Any, str]] = [(value, where)]
    pop, push = stack.pop, stack.append
    while stack:
        item, at = pop()
        t = type(item)
        if t is str:
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise InputError(f"{at}: string is not valid Unicode") from None
        elif t is int or t is bool or item is None:
            pass
        elif t is dict:
            for key, sub in item.items():
                if type(key) is not str:
                    raise InputError(f"{at}: object key {key!r} is not a string")
                if not key.isascii():
                    push((key, f"{at}.<key>"))
                if type(sub) is not str or not sub.isascii():
                    push((sub, f"{at}.{key}"))
        elif t is list or t is tuple:
            for i, sub in enumerate(item):
                push((sub, f"{at}[{i}]"))
        elif t is float:
            raise InputError(f"{at}: floats are not allowed in canonical JSON")
        elif isinstance(item, (str, int)) and not isinstance(item, float):
            pass  # str/int subclasses (e.g. IntEnum) encode as their value
        else:
            raise InputError(f"{at}: {t.__name__} is not a JSON value")


def _encode(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def dumps(value: Any) -> bytes:
    """Canonical bytes of `value` (see module docstring)."""
    _check(value)
    return _encode(value).encode("utf-8")


def iter_encode(value: Any, split_depth: int = 3, _checked: bool = False) -> Iterator[bytes]:
    """The bytes of `dumps(value)` in pieces, without building them all at once.

    Objects nested less than `split_depth` deep are written key by key (sorted
    like `dumps`); deeper values are encoded whole. JSON encoding composes, so
    the concatenation is byte-for-byte `dumps(value)` (tested), while memory
    holds one entry at a time instead of the whole document twice.
    """
    if not _checked:
        _check(value)
    if split_depth <= 0 or not isinstance(value, dict) or not value:
        yield _encode(value).encode("utf-8")
        return
    sep = b"{"
    for key in sorted(value):
        yield sep + _encode(key).encode("utf-8") + b":"
        yield from iter_encode(value[key], split_depth - 1, True)
        sep = b","
    yield b"}"


def sha256_hex(value: Any) -> str:
    """sha256 of the canonical bytes of `value`, streamed."""
    h = hashlib.sha256()
    for chunk in iter_encode(value):
        h.update(chunk)
    return h.hexdigest()


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
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
