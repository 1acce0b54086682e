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
from itertools import chain
from typing import Any

from freeze.errors import InputError

try:  # a C encoder/decoder about 8x faster on manifests; same bytes (tested)
    import orjson
except ImportError:  # pragma: no cover - the standard library gives the same result
    orjson = None  # type: ignore[assignment]


_SCALARS = frozenset({str, int, bool, type(None)})
_DICT = frozenset({dict})
_KEYS = frozenset({str})


def _check(value: Any, where: str = "$") -> None:
    """Refuse any type canonical JSON cannot carry (iterative: manifests are large).

    The types of an object's keys and values are checked in bulk (`map(type, ...)`
    runs in C): a manifest is hundreds of thousands of small objects of strings
    and integers, and this walk runs before every write. Strings that are not
    valid Unicode (lone surrogates) are caught where the text is encoded to
    UTF-8 (`_utf8`), which looks at every character anyway.
    """
    stack: list[tuple[Any, str]] = [(value, where)]
    pop, push = stack.pop, stack.append
    while stack:
        item, at = pop()
        t = type(item)
        if t is dict:
            if not item:
                continue
            if not _KEYS.issuperset(map(type, item)):
                bad = next(key for key in item if type(key) is not str)
                raise InputError(f"{at}: object key {bad!r} is not a string")
            values = item.values()
            if _SCALARS.issuperset(map(type, values)):
                continue
            if len(item) > 64 and _DICT.issuperset(map(type, values)) \
                    and _KEYS.issuperset(map(type, chain.from_iterable(values))):
                # a section (one object per path): its entries' keys were checked
                # in one C loop above; only entries holding more than scalars go on
                for key, sub in item.items():
                    if not _SCALARS.issuperset(map(type, sub.values())):
                        push((sub, f"{at}.{key}"))
                continue
            for key, sub in item.items():
                if type(sub) not in _SCALARS:
                    push((sub, f"{at}.{key}"))
        elif t is list or t is tuple:
            if not _SCALARS.issuperset(map(type, item)):
                for i, sub in enumerate(item):
                    if type(sub) not in _SCALARS:
                        push((sub, f"{at}[{i}]"))
        elif t in _SCALARS:
            pass
        elif t is float:
            raise InputError(f"{at}: floats are not allowed in canonical JSON")
        elif isinstance(item, (str, int)):
            pass  # str/int subclasses (e.g. IntEnum) encode as their value
        else:
            raise InputError(f"{at}: {t.__name__} is not a JSON value")


def _bad_text_at(value: Any, at: str = "$") -> str:
    """Where the first string that is not valid Unicode is (for the error message)."""
    stack: list[tuple[Any, str]] = [(value, at)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return where
        elif isinstance(item, dict):
            for key, sub in item.items():
                stack.append((key, f"{where}.<key>"))
                stack.append((sub, f"{where}.{key}"))
        elif isinstance(item, (list, tuple)):
            stack.extend((sub, f"{where}[{i}]") for i, sub in enumerate(item))
    return at


def _utf8(text: str, value: Any) -> bytes:
    """`text` (the JSON of `value`) as UTF-8; a lone surrogate is an InputError."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{_bad_text_at(value)}: string is not valid Unicode") from None


def _encode(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _encode_bytes(value: Any, stdlib: bool = False) -> bytes:
    """Canonical bytes of a value `_check` accepted.

    orjson with sorted keys writes exactly what `_encode` + UTF-8 writes for
    every value `_check` lets through (every code point, key order, integers;
    tests/unit/test_manifest.py compares them); what it cannot take (integers
    beyond 64 bits, strings that are not valid Unicode) goes to the standard
    library, which has no size limit and locates bad text.
    """
    if orjson is not None and not stdlib:
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return _utf8(_encode(value), value)


def dumps(value: Any) -> bytes:
    """Canonical bytes of `value` (see module docstring)."""
    _check(value)
    return _encode_bytes(value)


_BATCH = 1024


def iter_encode(value: Any, split_depth: int = 3, _checked: bool = False) -> Iterator[bytes]:
    """The bytes of `dumps(value)` in pieces, without building them all at once.

    Objects nested less than `split_depth` deep are written key by key (sorted
    like `dumps`); at the last split level, values are encoded `_BATCH` entries
    per `json.dumps` call (one C call per batch instead of per entry: a files
    section has one entry per path). JSON encoding composes, so the
    concatenation is byte-for-byte `dumps(value)` (tested), while memory holds
    one batch at a time instead of the whole document twice.
    """
    if not _checked:
        _check(value)
    if split_depth <= 0 or not isinstance(value, dict) or not value:
        yield _encode_bytes(value)
        return
    keys = sorted(value)
    sep = b"{"
    if split_depth == 1:
        for start in range(0, len(keys), _BATCH):
            batch = keys[start:start + _BATCH]
            part = dict(zip(batch, map(value.__getitem__, batch), strict=True))
            yield sep + _encode_bytes(part)[1:-1]  # the batch's members, no braces
            sep = b","
    else:
        for key in keys:
            yield sep + _encode_bytes(key) + b":"
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
    if orjson is not None:
        # Fast path for canonical input (every file freeze writes): if the parsed
        # value re-encodes to exactly these bytes and holds no float, the input
        # had no duplicate key (one would be lost), no float, no NaN, and the
        # strict parser below would return the same value.
        try:
            value = orjson.loads(data)
            if orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == data:
                _check(value)
                return value
        except (orjson.JSONDecodeError, TypeError, InputError):
            pass  # not canonical, or not valid: the strict parser decides and says why
    text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return json.loads(
        text,
        object_pairs_hook=_reject_duplicates,
        parse_constant=_reject_constant,
        parse_float=_reject_float,
    )
