"""SSHTransport's reading of the remote program's reply, with a fake SSH client.

Output that is not a reply of remote_main's shape must be "remote collector
failed" (UnavailableError, exit 69) like any other garbage, not an internal error.
"""

from __future__ import annotations

import io
import json

import pytest

from freeze.errors import EXIT_UNAVAILABLE, InputError, NoInputError, UnavailableError
from freeze.transport import SSHTarget, SSHTransport, results_from_status


class _Channel:
    def __init__(self, status: int) -> None:
        self.status = status

    def shutdown_write(self) -> None:
        pass

    def recv_exit_status(self) -> int:
        return self.status


class _Stream(io.BytesIO):
    def __init__(self, data: bytes = b"", status: int = 0) -> None:
        super().__init__(data)
        self.channel = _Channel(status)


class _Client:
    def __init__(self, stdout: bytes, stderr: bytes, status: int) -> None:
        self.streams = (_Stream(), _Stream(stdout, status), _Stream(stderr, status))

    def exec_command(self, command: str, timeout: float | None = None) -> tuple[_Stream, ...]:
        return self.streams

    def close(self) -> None:
        pass


def _collect(monkeypatch: pytest.MonkeyPatch, stdout: bytes, stderr: bytes = b"", status: int = 0) -> dict:
    client = _Client(stdout, stderr, status)
    monkeypatch.setattr(SSHTransport, "_connect", lambda self: client)
    return SSHTransport(SSHTarget.parse("root@h:22")).collect({}, growing={})


def test_reply_result_is_returned(monkeypatch):
    doc = {"host": {"hostname": "h"}, "sections": {}, "unavailable": {}, "facts": {}}
    assert _collect(monkeypatch, json.dumps({"ok": True, "result": doc}).encode()) == doc


def test_reply_error_becomes_its_freeze_error(monkeypatch):
    reply = {"ok": False, "kind": "dataerr", "message": "bad spec"}
    with pytest.raises(InputError, match=r"^host root@h:22: bad spec$"):
        _collect(monkeypatch, json.dumps(reply).encode(), status=1)


@pytest.mark.parametrize("stdout", [b"not json", b"[]", b"null", b'"text"', b'{"ok": true}',
                                    b'{"ok": true, "result": [1]}'])
def test_output_that_is_no_reply_is_unavailable(monkeypatch, stdout):
    with pytest.raises(UnavailableError, match=r"remote collector failed: Traceback") as info:
        _collect(monkeypatch, stdout, stderr=b"Traceback (most recent call last):\n", status=1)
    assert info.value.exit_code == EXIT_UNAVAILABLE


def test_inventory_status_gives_each_hosts_document_or_error(tmp_path):
    doc = {"host": {"hostname": "good"}, "sections": {}, "unavailable": {}, "facts": {}}
    (tmp_path / "good.json").write_text(json.dumps(doc))
    (tmp_path / "odd.json").write_text("[]")
    (tmp_path / "other.json").write_text(json.dumps(doc))
    status = {
        "good": {"dest": str(tmp_path / "good.json"), "profile_sha256": "p"},
        "odd": {"dest": str(tmp_path / "odd.json"), "profile_sha256": "p"},
        "other": {"dest": str(tmp_path / "other.json"), "profile_sha256": "q"},
        "gone": {"failed": True, "kind": "noinput", "msg": "/app: No such\nfile"},
        "broken": {"failed": True, "msg": "MODULE FAILURE"},
        "down": {"unreachable": True, "msg": "Failed to connect to the host via ssh"},
    }
    result = results_from_status(status, "p")
    assert result["good"] == doc
    assert isinstance(result["odd"], UnavailableError)
    assert str(result["odd"]) == "host odd: collected document malformed"
    assert isinstance(result["other"], InputError) and "another profile" in str(result["other"])
    assert isinstance(result["gone"], NoInputError) and str(result["gone"]) == "host gone: /app: No such file"
    assert str(result["broken"]) == "host broken: collection failed: MODULE FAILURE"
    assert isinstance(result["down"], UnavailableError)
    assert str(result["down"]) == "host down: unreachable: Failed to connect to the host via ssh"
