"""Before a zero: the live system must match the signed-off manifest."""

from __future__ import annotations

import os
from typing import Any

from freeze.errors import RefusedError, UsageError
from freeze.inputs import read_input
from freeze.zero.run import DriftGate


def read_manifest(path: str) -> tuple[Any, str]:
    from freeze.manifest import Manifest

    data = read_input(path, "manifest")
    manifest = Manifest.from_bytes(data, source=os.path.basename(path))
    return manifest, manifest.digest()


def check_drift(profile: Any, manifest_path: str, allow_reason: str | None,
                *, refuse: bool = True, progress: Any = None) -> DriftGate:
    """Run `freeze.drift.verify`; refuse (exit 9) on drift unless a reason is given.

    The reason is recorded verbatim in the zero record and printed on the report.
    """
    from freeze.drift import verify

    if allow_reason is not None and not allow_reason.strip():
        raise UsageError("--allow-drift needs a non-empty reason (it goes into the evidence)")
    manifest, digest = read_manifest(manifest_path)
    report = verify(manifest, profile, progress=progress)
    hosts = tuple(h for h in (manifest.host.get("hostname"),) if h)
    gate = DriftGate(os.path.abspath(manifest_path), digest, report.is_clean, report.exit_code,
                     report.to_dict(), allow_reason.strip() if allow_reason else None, hosts)
    if refuse and not report.is_clean and gate.allowed_reason is None:
        c = report.counts()
        first = report.entries[0] if report.entries else None
        example = f"; first: {first.category} {first.kind} {first.key}" if first else ""
        raise RefusedError(
            f"the system drifted from the manifest ({c['added']} added, {c['removed']} removed, "
            f"{c['changed']} changed{example}); nothing was changed. Run freeze verify for "
            f"details, or pass --allow-drift REASON to record an accepted drift")
    return gate
