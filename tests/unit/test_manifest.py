import hashlib
import json

import pytest

from freeze.canonical import dumps, loads
from freeze.errors import InputError
from freeze.manifest import SCHEMA, Manifest


def _manifest() -> Manifest:
    return Manifest(host={"hostname": "count-1", "machine_id": "ab" * 16},
                    profile_name="lab", profile_digest="0" * 64,
                    sections={"files": {"/etc/ü": {"type": "file", "sha256": "1" * 64}},
                              "packages": {"deb:bash:amd64": {"version": "5.2"}}},
                    facts={"boot_id": "x"}, created="2026-11-22T07:00:00Z")


def test_canonical_bytes_are_sorted_compact_utf8():
    assert dumps({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    with pytest.raises(InputError):
        dumps({"a": 1.5})


def test_round_trip_and_digest():
    m = _manifest()
    data = m.to_bytes()
    assert data.startswith(b'{"created"') and b" " not in data.replace(b"count-1", b"")
    assert m.digest() == hashlib.sha256(data).hexdigest()
    again = Manifest.from_bytes(data)
    assert again.to_bytes() == data and again.schema == SCHEMA


def test_reencoded_with_whitespace_still_reads_and_hashes_same():
    m = _manifest()
    pretty = json.dumps(json.loads(m.to_bytes()), indent=2).encode()
    assert Manifest.from_bytes(pretty).digest() == m.digest()


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[: len(b) // 2], "corrupt or truncated"),
    (lambda b: b"", "empty"),
    (lambda b: b"\xff\xfe" + b, "corrupt or truncated"),
    (lambda b: b.replace(SCHEMA.encode(), b"freeze-manifest/v9"), "unknown manifest schema"),
    (lambda b: b.replace(b'"created":"2026-11-22T07:00:00Z"', b'"created":"yesterday"'),
     "created"),
    (lambda b: b.replace(b'"facts":{', b'"facts":{"x":1.5,'), "corrupt"),
    (lambda b: b"[1,2]", "top level"),
    (lambda b: b.replace(b'{"boot_id"', b'{"boot_id":"y","boot_id"'), "duplicate"),
])
def test_corrupt_manifests_are_input_errors(mutate, message):
    with pytest.raises(InputError) as exc:
        Manifest.from_bytes(mutate(_manifest().to_bytes()))
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("bad, message", [
    ({"files": {"/a": {"size": 1.5}}}, "floats"),
    ({"files": {"/a": {"name": "\udcff"}}}, "not valid Unicode"),
    ({"files": {"/\udcff": {}}}, "not valid Unicode"),
    ({"files": {"/a": {1: "x"}}}, "not a string"),
    ({"files": {"/a": {"t": {1, 2}}}}, "set is not a JSON value"),
    ({"files": [{"ok": 1}, {"deep": [1.0]}]}, "floats"),
])
def test_values_canonical_json_cannot_carry_are_refused(bad, message):
    from freeze.canonical import iter_encode

    with pytest.raises(InputError, match=message):
        dumps(bad)
    with pytest.raises(InputError, match=message):
        b"".join(iter_encode(bad))


@pytest.mark.parametrize("entry, message, where", [
    ({"size": 1.5}, "floats", "/p0077.size"),
    ({1: "x"}, "not a string", "/p0077"),
    ({"xattrs": {"user.a": 2.5}}, "floats", "/p0077.xattrs.user.a"),
    ({"xattrs": {7: "x"}}, "not a string", "/p0077.xattrs"),
    ({"t": (1, [2.0])}, "floats", "/p0077.t[1][0]"),
])
def test_a_bad_value_in_a_large_section_is_found_and_located(entry, message, where):
    """Sections of many entries are checked in bulk; a bad one is still found, by path."""
    files = {f"/p{i:04d}": {"type": "file", "size": i, "xattrs": {"user.k": "v"}}
             for i in range(200)}
    files["/p0077"].update(entry)
    with pytest.raises(InputError, match=message) as exc:
        dumps({"sections": {"files": files}})
    assert f"$.sections.files.{where}" in str(exc.value)


def test_loads_rejects_nan():
    with pytest.raises(ValueError):
        loads(b'{"a": NaN}')


def test_streamed_encoding_is_byte_identical():
    import io

    from freeze.canonical import iter_encode

    m = _manifest()
    m.sections["files"].update({f"/x/{i}\u00e9\"\\": {"n": i, "l": [1, {"z": None, "a": True}]}
                                for i in range(2500)})  # > 2 encoder batches
    m.sections["empty"] = {}
    for depth in range(6):
        assert b"".join(iter_encode(m.to_dict(), depth)) == m.to_bytes()
    buf = io.BytesIO()
    assert m.write_to(buf) == m.digest() == hashlib.sha256(m.to_bytes()).hexdigest()
    assert buf.getvalue() == m.to_bytes()


def test_source_digest_is_the_file_digest():
    m = _manifest()
    data = m.to_bytes()
    assert Manifest.from_bytes(data).source_sha256 == m.digest()
    pretty = json.dumps(json.loads(data), indent=1).encode()
    assert Manifest.from_bytes(pretty).source_sha256 == hashlib.sha256(pretty).hexdigest()
    assert m.source_sha256 is None


def test_fast_encoder_writes_the_same_bytes_as_the_standard_library():
    """orjson (when installed) and json must agree byte for byte on canonical values."""
    from freeze import canonical

    if canonical.orjson is None:
        pytest.skip("orjson not installed: only the standard library encoder is in use")
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(every), 8192):  # every code point, escaped or not
        text = "".join(every[start:start + 8192])
        assert canonical._encode_bytes(text) == canonical._encode_bytes(text, stdlib=True)
    samples = [
        {c: i for i, c in enumerate(["\uffff", "\U00010000", "a", "\u00e9", "", "A", "\x7f"])},
        {"ints": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1], "deep": [[{"b": None, "a": False}]]},
        {"big": 2**64, "neg": -(2**63) - 1},  # beyond orjson: the stdlib takes over
        ("tuple", True, None),
    ]
    for value in samples:
        assert canonical._encode_bytes(value) == canonical._encode_bytes(value, stdlib=True)
        assert loads(dumps(value)) == json.loads(dumps(value))


@pytest.mark.parametrize("text, expected", [
    (b'{"a":1,"a":2}', ValueError),             # duplicate key: canonical re-encoding differs
    (b'{"a":1.5}', ValueError),                 # canonical-looking float
    (b'[1.0]', ValueError),
    (b'[NaN]', ValueError),
    (b'[123456789012345678901234567890]', [123456789012345678901234567890]),
    (b'{ "b": 1, "a": [ -0 ] }', {"a": [0], "b": 1}),  # not canonical, still valid JSON
    (b'{"a":"\\u00e9"}', {"a": "\u00e9"}),
])
def test_fast_and_strict_parsers_agree(text, expected):
    if expected is ValueError:
        with pytest.raises(ValueError):
            loads(text)
    else:
        assert loads(text) == expected
