"""Is this host's manifest the signed one? (the check `playbooks/verify.yml` makes first)

A ceremony over a fleet signs ONE manifest statement (one statement per evidence
type in a bundle): for one host its manifest, for several a fleet manifest, a
small JSON document naming each host's manifest by sha256 and size, which
`playbooks/freeze-ceremony.yml` writes from the snapshot results:

    {"schema": "freeze-fleet/v1",
     "manifests": {"HOST": {"file": "HOST.manifest.json", "sha256": HEX, "size": N}, ...},
     "database": {"file": "database.manifest.json", "sha256": HEX, "size": N}}   # optional

`check_signed_manifest` proves a host's manifest is covered by a signed manifest
envelope: the envelope verifies against the ceremony root (threshold met by
distinct people, root self-signed, statement bound to this ceremony, root not
expired: exactly `freeze verify-envelope --type manifest --root ROOT`), and its
subject is either the manifest's own sha256 or the sha256 of the fleet manifest
given, which names this host's manifest with that sha256. Anything else raises
VerificationError ("manifest is not the signed one: ..."), so a flipped byte in
a manifest is never reported as drift of the system.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

from freeze.errors import InputError, VerificationError
from freeze.manifest import read_fleet_manifests

_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _not_signed(text: str) -> VerificationError:
    return VerificationError(f"manifest is not the signed one: {text}")


def fleet_entry(fleet: Path, host: str) -> dict[str, object]:
    """The fleet manifest's entry for `host` (VerificationError if it has none or is malformed)."""
    try:
        entries = read_fleet_manifests(fleet)
    except InputError as exc:  # here an unusable fleet manifest is an unsigned manifest
        raise _not_signed(str(exc)) from exc
    entry = entries.get(host)
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        raise _not_signed(f"{fleet}: names no manifest for host {host}")
    return entry


def check_signed_manifest(manifest: str | os.PathLike[str], envelope: str | os.PathLike[str],
                          root: str | os.PathLike[str], *, host: str,
                          fleet: str | os.PathLike[str] | None = None,
                          now: dt.datetime | None = None) -> list[str]:
    """Raise VerificationError unless `manifest` is covered by the signed `envelope`; else say how."""
    from freeze.evidence import statement
    from freeze.evidence.ceremony import verify_envelope
    from freeze.evidence.dsse import Envelope
    from freeze.inputs import read_input

    envelope, root = Path(envelope), Path(root)
    report = verify_envelope(envelope, "manifest", root=root, now=now)
    if not report.ok:
        failed = "; ".join(c.text for c in report.checks if not c.ok)
        raise _not_signed(f"{envelope.name}: {failed}")
    named = statement.parse(Envelope.from_bytes(read_input(envelope, "envelope"), what=str(envelope)),
                            "manifest").subjects[0]["digest"]["sha256"]
    digest = file_sha256(manifest)
    lines = [f"{envelope.name}: {report.threshold.describe()}"]
    if named == digest:
        return [*lines, f"manifest sha256:{digest} is the signed statement's subject"]
    if fleet is None:
        raise _not_signed(f"its sha256 is {digest}, the statement in {envelope.name} names {named} "
                          "(a fleet manifest? give it)")
    fleet = Path(fleet)
    fleet_digest = file_sha256(fleet)
    if fleet_digest != named:
        raise _not_signed(f"neither it (sha256 {digest}) nor the fleet manifest {fleet.name} "
                          f"(sha256 {fleet_digest}) is what {envelope.name} names ({named})")
    listed = fleet_entry(fleet, host)["sha256"]
    if listed != digest:
        raise _not_signed(f"its sha256 is {digest}, the signed fleet manifest names {listed} for {host}")
    return [*lines, f"manifest sha256:{digest} is host {host}'s in the signed fleet manifest sha256:{named}"]
