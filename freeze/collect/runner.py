"""Run every system collector for one profile spec. Standard library only.

Used in-process for the local host and, shipped as source by `freeze.transport`,
on a remote host through `python3 -`, where `remote_main` writes one JSON
document to stdout: {"ok": true, "result": {...}} or {"ok": false, "kind": ...,
"message": ...}. Nothing here is ever taken from a manifest: the request is the
operator's profile plus the sizes of growing files.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any

from freeze.collect import accounts, files, kernel, network, packages, services
from freeze.collect.common import Collected, CollectError, Progress, under_root

COLLECTOR_MODULES = ("common", "files", "packages", "services", "accounts", "network",
                     "kernel", "runner")


def host_identity(root: str) -> dict[str, str]:
    ident = {"hostname": socket.gethostname(), "machine_id": ""}
    if root not in ("", "/"):
        try:
            with open(under_root(root, "/etc/hostname"), encoding="utf-8") as fh:
                ident["hostname"] = fh.read().strip()
        except OSError:
            ident["hostname"] = ""
    try:
        with open(under_root(root, "/etc/machine-id"), encoding="ascii") as fh:
            ident["machine_id"] = fh.read().strip()
    except (OSError, UnicodeDecodeError):
        pass
    return ident


def run_all(spec: dict[str, Any], growing: dict[str, int] | None = None,
            progress: Progress | None = None,
            known: dict[str, Any] | None = None) -> dict[str, Any]:
    root = spec.get("root", "/")
    result = Collected()
    result.merge(files.collect(spec, growing=growing, progress=progress, known=known))
    for mod in (packages, services, accounts, network, kernel):
        result.merge(mod.collect(spec))
    doc = result.to_dict()
    doc["host"] = host_identity(root)
    return doc


def remote_main(request: dict[str, Any]) -> int:
    try:
        result = run_all(request["spec"], request.get("growing") or {})
        reply = {"ok": True, "result": result}
    except CollectError as exc:
        reply = {"ok": False, "kind": exc.kind, "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the operator in one line
        reply = {"ok": False, "kind": "software", "message": f"{type(exc).__name__}: {exc}"}
    out = sys.stdout.buffer
    out.write(json.dumps(reply, separators=(",", ":")).encode("utf-8"))
    out.flush()
    return 0
