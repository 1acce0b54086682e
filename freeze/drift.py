"""Drift: what differs between a manifest and the live system.

`compare(old, new, profile)` is pure: two manifests in, a `DriftReport` out.
`verify(manifest, profile, ...)` re-collects the live system with the operator's
profile (never anything taken from the manifest: the manifest is data, and the
only things taken from it are the sizes of growing files, to know how many bytes
to re-hash) and compares.

Categories and exit bitmask follow AIDE: 1 added, 2 removed, 4 changed.

Volatility (from the operator's profile, whose digest must match the one the
manifest recorded):
  * static   - every attribute must match.
  * growing  - a regular file may grow: same inode, size not smaller, and the
               first `old.size` bytes must hash to the recorded sha256; mode,
               owner, links... still must match. A directory may gain or lose
               entries (its own mtime/ctime/size/nlink are not judged); the
               entries themselves are still reported when added or removed.
  * rotating - a log directory: files are judged as growing ones, and numbered
               log rotation (NAME -> NAME.1 -> NAME.2.gz ...) is followed: the
               recorded bytes must be found again where the rotation put them
               (freeze.rotation).
  * rewritten - records rewritten in place (lastlog, faillog): type, mode,
               owner, inode, links, xattrs must match; content, size and times
               are not judged.
  * excluded - never recorded, never judged.
  * switch   - one symlink with known alternatives (`targets`, e.g. the results
               website's mode selector): pointed at any listed target it is not
               drift (its target, size, inode and times may change; the report's
               `switches` say which target is active); another target, anything
               but a symlink in its place, its removal, owner or mode changes are.
               Its directory's times are not judged (a switch renames a new link
               in); the directory's entries still are.

Units the profile declares known transient ones (`services.known_transient`, e.g.
the results website's revert timer, which its mode switch starts with systemd-run)
may appear, change their active state and go while they have no unit file
(recorded `enabled: transient`) or are absent: reported (`transient_units`), not
drift. A unit file under such a name, and every other unit, is judged as usual.

Modules the profile lists as loaded on demand (`kernel.modules_on_demand`: the
sock_diag modules ss loads, veth for network namespaces) may be loaded, unloaded and
loaded again with another size: reported (`on_demand_modules`, only those whose state
differs from the freeze's), not drift. Every other module is judged as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from freeze.errors import (
    EXIT_ADDED,
    EXIT_CHANGED,
    EXIT_REMOVED,
    FreezeError,
    VerificationError,
    worst_exit_code,
)
from freeze.judge import (
    CHECKER_UNITS,
    HELPER_ATTRS,
    TRANSIENT,
    AttributeChange,
    attr_changes,
    holds_changing_entries,
    judge_file,
    judge_rotations,
    known_change,
    on_demand_problem,
    switch_problem,
    transient_problem,
)
from freeze.manifest import DB_SEMANTIC_SECTIONS, Manifest, kind_of, load_manifest_dir
from freeze.profile import HostProfiles, Profile

if TYPE_CHECKING:
    # the collectors and transports are heavy: imported on use (see verify)
    from freeze.collect.common import Progress
    from freeze.transport import AnsibleInventory, Transport

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
# The attribute of a row change that names one column (database.row_values).
COLUMN_PREFIX = "column "

@dataclass(frozen=True)
class DriftEntry:
    category: str  # added | removed | changed
    kind: str  # file, package, service, user, socket, db_row, db_column, grant, ...
    key: str
    section: str
    changes: tuple[AttributeChange, ...] = ()
    # the whole entry as found (added) or as recorded (removed): what appeared or went
    attributes: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "category": self.category,
            "kind": self.kind,
            "key": self.key,
            "section": self.section,
            "changes": [c.to_dict() for c in self.changes],
        }
        if self.attributes is not None:
            out["attributes"] = {k: v for k, v in self.attributes.items()
                                 if k not in HELPER_ATTRS}
        return out


@dataclass(frozen=True)
class SwitchState:
    """A `switch` rule's symlink as recorded and as found: which known target is active.

    `recorded`/`active`: the link's target (None: absent, or not a symlink: `problem`
    says what is there instead); `problem`: why the found entry is not a known state
    (that entry is also drift, reported as such)."""

    path: str
    known: tuple[str, ...]
    recorded: str | None
    active: str | None
    problem: str | None = None
    present: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "active": self.active, "recorded": self.recorded,
                "known": list(self.known), "present": self.present, "problem": self.problem}

    def text(self) -> str:
        """"switch PATH: mode-attack.conf (recorded mode-normal.conf; known: a, b)"."""
        known = ", ".join(self.known)
        recorded = self.recorded if self.recorded is not None else "nothing"
        if not self.present:
            now = "absent"
        elif self.problem is not None:
            now = f"DRIFT: {self.problem}"
        else:
            now = str(self.active)
        return f"switch {self.path}: {now} (recorded {recorded}; known: {known})"


@dataclass(frozen=True)
class TransientUnit:
    """A unit of the profile's `services.known_transient`: what it is doing now.

    `recorded`/`active`: its active state at the freeze and now (None: absent, or no
    active state collected); `enabled`: its unit file state now (None: absent;
    "transient": no unit file); `problem`: why it is drift (a unit file under the
    name), None when it is not."""

    unit: str
    recorded: str | None
    active: str | None
    enabled: str | None
    problem: str | None = None

    @property
    def present(self) -> bool:
        return self.enabled is not None

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "active": self.active, "recorded": self.recorded,
                "enabled": self.enabled, "present": self.present, "problem": self.problem}

    def text(self) -> str:
        """"unit revert.timer: active/waiting (transient; known)"."""
        if self.problem is not None:
            return f"unit {self.unit}: DRIFT: {self.problem}"
        if not self.present:
            return f"unit {self.unit}: absent (transient; known)"
        active = self.active or "active state not collected"
        if self.enabled != TRANSIENT:  # a unit file, unchanged since the freeze recorded it
            return f"unit {self.unit}: {active} (a unit file ({self.enabled}) as recorded, not transient)"
        return f"unit {self.unit}: {active} (transient; known)"


@dataclass(frozen=True)
class OnDemandModule:
    """A module of the profile's `kernel.modules_on_demand` whose state differs from the
    freeze's: loaded or unloaded since, or loaded with another size.

    `recorded_size`/`size`: its size at the freeze and now (None: not loaded);
    `problem`: why it is drift (another recorded attribute changed), None when it is not."""

    module: str
    recorded_size: int | None
    size: int | None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.module, "loaded": self.size is not None,
                "recorded_loaded": self.recorded_size is not None, "size": self.size,
                "recorded_size": self.recorded_size, "problem": self.problem}

    def text(self) -> str:
        """"kernel module inet_diag: not loaded now (loaded at the freeze; on demand, known)"."""
        prefix = f"kernel module {self.module}:"
        if self.problem is not None:
            return f"{prefix} DRIFT: {self.problem}"
        if self.size is None:
            return f"{prefix} not loaded now (loaded at the freeze; on demand, known)"
        if self.recorded_size is None:
            return f"{prefix} loaded now (not loaded at the freeze; on demand, known)"
        return (f"{prefix} loaded, size {self.size} (size {self.recorded_size} at the freeze; "
                f"on demand, known)")


@dataclass
class DriftReport:
    entries: list[DriftEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest_digest: str = ""
    host: dict[str, str] = field(default_factory=dict)
    # the profile's switch symlinks: what each points at now (never drift by itself)
    switches: list[SwitchState] = field(default_factory=list)
    # the profile's known transient units: what each is doing now (not drift by itself)
    transient_units: list[TransientUnit] = field(default_factory=list)
    # the profile's modules loaded on demand that were loaded, unloaded or resized (not drift)
    on_demand_modules: list[OnDemandModule] = field(default_factory=list)

    def known_state_lines(self) -> list[str]:
        """One line per known state the profile declares (switches, transient units,
        modules loaded on demand): which one is active now; never drift by itself."""
        return ([s.text() for s in self.switches] + [u.text() for u in self.transient_units]
                + [m.text() for m in self.on_demand_modules])

    @property
    def exit_code(self) -> int:
        code = 0
        for e in self.entries:
            code |= {ADDED: EXIT_ADDED, REMOVED: EXIT_REMOVED, CHANGED: EXIT_CHANGED}[e.category]
        return code

    @property
    def is_clean(self) -> bool:
        return not self.entries

    def counts(self) -> dict[str, int]:
        out = {ADDED: 0, REMOVED: 0, CHANGED: 0}
        for e in self.entries:
            out[e.category] += 1
        return out

    def by_kind(self, kind: str) -> list[DriftEntry]:
        return [e for e in self.entries if e.kind == kind]

    def find(self, category: str, kind: str, key: str) -> DriftEntry | None:
        for e in self.entries:
            if e.category == category and e.kind == kind and e.key == key:
                return e
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "clean": self.is_clean,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "manifest_digest": self.manifest_digest,
            "host": self.host,
            "entries": [e.to_dict() for e in self.entries],
            "notes": list(self.notes),
            # only with switch rules, so other reports' JSON stays what it was
            **({"switches": [s.to_dict() for s in self.switches]} if self.switches else {}),
            # only with known transient units, likewise
            **({"transient_units": [u.to_dict() for u in self.transient_units]}
               if self.transient_units else {}),
            # only with modules loaded on demand that did so, likewise
            **({"on_demand_modules": [m.to_dict() for m in self.on_demand_modules]}
               if self.on_demand_modules else {}),
        }


def _judge_file(path: str, old: dict[str, Any], new: dict[str, Any],
                profile: Profile | None) -> list[AttributeChange]:
    """A file entry under the class of its governing rule (freeze.judge, shared with
    the freeze_watch role's checker on the host)."""
    rule = profile.rule_for(path) if profile is not None else None
    if rule is None:
        return judge_file(old, new, "static")
    assert profile is not None
    switches = [r.path for r in profile.paths if r.volatility == "switch"]
    return judge_file(old, new, rule.volatility,
                      excluded_entries=holds_changing_entries(rule.exclude, switches, path),
                      targets=rule.targets)


def _judge_row(key: str, old: dict[str, Any], new: dict[str, Any],
                profile: Profile | None) -> list[AttributeChange]:
    """A database row: its digest decides. Column values (recorded when the profile
    sets `database.row_values`) only say what changed, one change per column."""
    if old.get("sha256") == new.get("sha256"):
        return []
    changes = [AttributeChange("sha256", old.get("sha256"), new.get("sha256"))]
    a, b = old.get("values"), new.get("values")
    if isinstance(a, dict) and isinstance(b, dict):
        for column in sorted(a.keys() | b.keys()):
            if a.get(column) != b.get(column) or (column in a) != (column in b):
                changes.append(AttributeChange(f"{COLUMN_PREFIX}{column}", a.get(column),
                                               b.get(column)))
    return changes


def _judge_service(key: str, old: dict[str, Any], new: dict[str, Any],
                   profile: Profile | None) -> list[AttributeChange]:
    """A unit's enabled and active state; the continuous checker's own units' active
    state is their schedule (freeze.judge.CHECKER_UNITS), not judged."""
    del profile
    return attr_changes(old, new, HELPER_ATTRS | {"active"} if key in CHECKER_UNITS else HELPER_ATTRS)


_JUDGES: dict[str, Callable[[str, dict[str, Any], dict[str, Any], Profile | None],
                            list[AttributeChange]]] = {
    "files": _judge_file,
    "db_rows": _judge_row,
    "services": _judge_service,
}


def compare(old: Manifest, new: Manifest, profile: Profile | None = None) -> DriftReport:
    """Everything that differs between `old` (the frozen state) and `new` (now)."""
    # the file's own sha256 when it was read from bytes (what evidence signed)
    report = DriftReport(manifest_digest=old.source_sha256 or old.digest(), host=dict(new.host))
    for attr in ("hostname", "machine_id"):
        if old.host.get(attr) != new.host.get(attr):
            report.entries.append(DriftEntry(CHANGED, "host", attr, "host", (
                AttributeChange(attr, old.host.get(attr), new.host.get(attr)),)))
    if old.profile_digest != new.profile_digest:
        report.notes.append("the two manifests were taken with different profiles")

    for section in sorted(set(old.sections) | set(new.sections) | set(old.unavailable)
                          | set(new.unavailable)):
        kind = kind_of(section)
        was_unavailable = section in old.unavailable
        now_unavailable = section in new.unavailable
        if now_unavailable and not was_unavailable and section not in old.sections:
            # never recorded (a manifest taken before freeze said why): nothing to compare
            report.notes.append(f"{section}: not checked ({new.unavailable[section]})")
            continue
        if now_unavailable and not was_unavailable:
            report.entries.append(DriftEntry(CHANGED, "collector", section, section, (
                AttributeChange("available", True, new.unavailable[section]),)))
            continue
        if was_unavailable and not now_unavailable:
            report.entries.append(DriftEntry(CHANGED, "collector", section, section, (
                AttributeChange("available", old.unavailable[section], True),)))
            continue
        if was_unavailable and now_unavailable:
            report.notes.append(f"{section}: not checked ({new.unavailable[section]})")
            continue
        if (section in DB_SEMANTIC_SECTIONS and section not in old.sections
                and section in new.sections):
            # taken by a freeze that did not collect this part of the catalog yet:
            # nothing to compare with, which is neither drift nor a silent pass
            report.notes.append(f"{section}: not checked (not recorded in this manifest, "
                                f"taken by freeze {old.tool_version}; snapshot again to "
                                f"cover it)")
            continue
        a = old.sections.get(section, {})
        b = new.sections.get(section, {})
        if a == b:
            continue  # the common case, decided in C for the whole section
        judge = _JUDGES.get(section)
        differing = [key for key in a.keys() | b.keys() if a.get(key) != b.get(key)]
        if profile is not None and (profile.known_transient or profile.modules_on_demand):
            # a known transient unit coming and going, a module loaded on demand (reported below)
            differing = [key for key in differing if not known_change(
                section, key, a.get(key), b.get(key), profile.known_transient, profile.modules_on_demand)]
        rotated: set[str] = set()
        if section == "files" and profile is not None and any(
                r.volatility == "rotating" for r in profile.paths):
            rotated = _judge_rotations(a, b, profile, report)
        for key in sorted(differing):
            if key in rotated:
                continue
            if key not in b:
                report.entries.append(DriftEntry(REMOVED, kind, key, section,
                                                 attributes=a[key]))
            elif key not in a:
                report.entries.append(DriftEntry(ADDED, kind, key, section,
                                                 attributes=b[key]))
            else:
                changes = (judge(key, a[key], b[key], profile) if judge
                           else attr_changes(a[key], b[key]))
                if changes:
                    report.entries.append(DriftEntry(CHANGED, kind, key, section, tuple(changes)))
    if profile is not None and "files" not in old.unavailable and "files" not in new.unavailable:
        report.switches = switch_states(old.sections.get("files", {}),
                                        new.sections.get("files", {}), profile)
    if (profile is not None and profile.known_transient and "services" not in old.unavailable
            and "services" not in new.unavailable):
        report.transient_units = transient_units(old.sections.get("services", {}),
                                                 new.sections.get("services", {}), profile)
    if (profile is not None and profile.modules_on_demand and "modules" not in old.unavailable
            and "modules" not in new.unavailable):
        report.on_demand_modules = on_demand_modules(old.sections.get("modules", {}),
                                                     new.sections.get("modules", {}), profile)
    return report


def on_demand_modules(old: dict[str, Any], new: dict[str, Any], profile: Profile
                      ) -> list[OnDemandModule]:
    """The modules loaded on demand whose state differs from the freeze's, by name
    (reported, not judged: an entry that is drift is reported with the others, and its
    `problem` says why). One that is as it was is not listed: eight unchanged lines a
    host would bury the ones that say something."""
    out = []
    for module in sorted(profile.modules_on_demand):
        a, b = old.get(module), new.get(module)
        if a == b:
            continue
        out.append(OnDemandModule(
            module=module,
            recorded_size=a.get("size") if a is not None else None,
            size=b.get("size") if b is not None else None,
            problem=on_demand_problem(a, b)))
    return out


def transient_units(old: dict[str, Any], new: dict[str, Any], profile: Profile
                    ) -> list[TransientUnit]:
    """What each known transient unit is doing, by name (reported, not judged: an entry
    that is drift is reported with the others, and its `problem` says why)."""
    out = []
    for unit in sorted(profile.known_transient):
        a, b = old.get(unit), new.get(unit)
        out.append(TransientUnit(
            unit=unit,
            recorded=a.get("active") if a is not None else None,
            active=b.get("active") if b is not None else None,
            enabled=b.get("enabled") if b is not None else None,
            problem=transient_problem(a, b) if a != b else None))
    return out


def switch_states(old: dict[str, Any], new: dict[str, Any], profile: Profile) -> list[SwitchState]:
    """What each `switch` rule's symlink points at, recorded and now (reported, not judged:
    the judging is `judge_file`'s, the entry's drift is reported with the others)."""
    out = []
    for rule in profile.paths:
        if rule.volatility != "switch":
            continue
        a, b = old.get(rule.path), new.get(rule.path)
        out.append(SwitchState(
            path=rule.path, known=rule.targets,
            recorded=a.get("target") if a is not None else None,
            active=b.get("target") if b is not None else None,
            problem=switch_problem(b, rule.targets), present=b is not None))
    return out


def _rotating(profile: Profile) -> Callable[[str], bool]:
    def is_rotating(path: str) -> bool:
        rule = profile.rule_for(path)
        return rule is not None and rule.volatility == "rotating"
    return is_rotating


def _judge_rotations(old: dict[str, Any], new: dict[str, Any], profile: Profile,
                     report: DriftReport) -> set[str]:
    """Judge the rotation chains of rotating rules into `report`; the keys judged."""
    handled, failures = judge_rotations(old, new, _rotating(profile))
    for key in sorted(failures):
        report.entries.append(DriftEntry(CHANGED, "file", key, "files", tuple(failures[key])))
    return handled


def check_profile_matches(manifest: Manifest, profile: Profile) -> None:
    """A manifest is only judged with the policy it was taken with."""
    if manifest.profile_digest != profile.digest:
        raise VerificationError(
            f"profile mismatch: the manifest was taken with profile {manifest.profile_name!r} "
            f"sha256:{manifest.profile_digest[:16]}..., but {profile.source or 'the profile'} "
            f"is sha256:{profile.digest[:16]}...; verify with the profile the manifest was "
            f"taken with"
        )


def growing_sizes(manifest: Manifest, profile: Profile) -> dict[str, int]:
    """Sizes of growing regular files: how many bytes the verifier must re-hash
    (for rotating logs also at each generation they may have been rotated to)."""
    from freeze.rotation import prefix_requests

    out: dict[str, int] = {}
    if any(r.volatility == "rotating" for r in profile.paths):
        out.update(prefix_requests(manifest.sections.get("files", {}), _rotating(profile)))
    for path, attrs in manifest.sections.get("files", {}).items():
        rule = profile.rule_for(path)
        if rule is not None and rule.volatility == "growing" and attrs.get("type") == "file":
            size = attrs.get("size")
            if isinstance(size, int) and size >= 0:
                out[path] = size
    return out


def verify(manifest: Manifest, profile: Profile, *, transport: Transport | None = None,
           progress: Progress | None = None, dsn: str | None = None) -> DriftReport:
    """Re-collect the live system with `profile` and compare with `manifest`."""
    from freeze.snapshot import take_snapshot  # collectors are heavy; import on use

    check_profile_matches(manifest, profile)
    fresh = take_snapshot(profile, transport=transport, progress=progress, dsn=dsn,
                          growing=growing_sizes(manifest, profile), require_tables=False,
                          known=manifest)
    return compare(manifest, fresh, profile)


def verify_inventory(manifests: dict[str, Manifest], profile: Profile | HostProfiles,
                     inventory: AnsibleInventory, dsn: str | None = None) -> dict[str, DriftReport | Exception]:
    """Verify every host of an inventory against its own manifest (one Ansible run),
    each with its profile (`profile`: one for all, or HostProfiles)."""
    from freeze.profile import as_host_profiles
    from freeze.snapshot import snapshot_inventory

    profiles = as_host_profiles(profile)
    out: dict[str, DriftReport | Exception] = {}
    if profiles.shared is not None:
        for m in manifests.values():
            check_profile_matches(m, profiles.shared)
    else:
        # each host's manifest judged only with that host's profile; a host whose
        # profile is missing or another than its manifest's is an error of its own
        for host, m in list(manifests.items()):
            try:
                host_profile = profiles.for_host(host)
            except FreezeError as exc:  # no HOST.profile.yml: the message names the host
                out[host] = exc
                continue
            try:
                check_profile_matches(m, host_profile)
            except VerificationError as exc:
                out[host] = VerificationError(f"host {host}: {exc}")
        manifests = {h: m for h, m in manifests.items() if h not in out}
        if not manifests:
            return out
    fresh = snapshot_inventory(profiles, inventory,
                               {h: growing_sizes(m, profiles.for_host(h)) for h, m in manifests.items()},
                               dsn=dsn, require_tables=False)
    for host, m in manifests.items():
        now = fresh.get(host)
        if now is None and inventory.limit != "all":
            continue  # outside --limit: the operator verifies a subset of the manifests
        if now is None:
            from freeze.errors import InputError

            out[host] = InputError(f"host {host}: has a manifest but is not in the inventory")
        elif isinstance(now, Exception):
            out[host] = now
        else:
            out[host] = compare(m, now, profiles.for_host(host))
    return out


@dataclass
class InventoryDrift:
    """Per host: its drift report, or the error that kept it from being verified."""

    reports: dict[str, DriftReport]
    errors: dict[str, Exception]

    @property
    def exit_code(self) -> int:
        """A host's error (its own status) outranks drift; else the drift bitmask of all hosts."""
        drift = 0
        for report in self.reports.values():
            drift |= report.exit_code
        return worst_exit_code(self.errors) or drift


def verify_inventory_dir(directory: str, profile: Profile | HostProfiles, inventory: AnsibleInventory
                         ) -> InventoryDrift:
    """Verify every host of an inventory against DIR/HOST.manifest.json."""
    results = verify_inventory(load_manifest_dir(directory), profile, inventory)
    return InventoryDrift({h: r for h, r in results.items() if isinstance(r, DriftReport)},
                          {h: r for h, r in results.items() if isinstance(r, Exception)})
