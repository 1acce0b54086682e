"""Before a zero: the live system must match the signed-off manifest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from freeze.errors import InputError, RefusedError, UsageError
from freeze.manifest import Manifest, load_manifest
from freeze.profile import Profile
from freeze.zero.run import DriftGate
from freeze.zero.spec import ZeroSpec


def read_manifest(path: str) -> tuple[Manifest, str]:
    manifest = load_manifest(path)
    return manifest, manifest.digest()


def check_confirmation(typed: str, election_id: str) -> None:
    """The typed confirmation must be the election id (surrounding blanks ignored)."""
    if typed.strip() != election_id:
        raise RefusedError(f"confirmation {typed.strip()!r} does not match election id "
                           f"{election_id!r}; nothing was changed")


def confirmation_required(election_id: str) -> RefusedError:
    """The refusal when no confirmation can be had (no --confirm, no terminal)."""
    return RefusedError(f"confirmation required: pass --confirm {election_id} "
                        f"(or run on a terminal to be prompted); nothing was changed")


def dry_run_drift(gate: DriftGate) -> dict[str, Any]:
    """The drift part of a dry run's result: would the real zero be refused?"""
    return {"clean": gate.clean, "exit_code": gate.exit_code,
            "would_refuse": not gate.clean and gate.allowed_reason is None}


def backup_dir_for(option: str | None, spec: ZeroSpec, evidence_dir: Path) -> Path:
    """--backup-dir, else zero.backup.dir of the profile, else EVIDENCE_DIR/backups."""
    return Path(option or spec.backup.dir or evidence_dir / "backups").resolve()


def resolve_dsn(profile: Profile, profile_path: str) -> str:
    """The counting database's DSN from the profile (env or owner-only file, never argv)."""
    if profile.database is None:
        raise InputError(f"{profile_path}: the profile has no database section (freeze zero "
                         f"needs database.dsn_env or database.dsn_file)")
    return profile.database.resolve_dsn()


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
