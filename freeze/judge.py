"""How one recorded file is judged against what is found now, by volatility class.

Standard library only, like `freeze.collect` and `freeze.rotation`: `freeze verify`
(freeze.drift) judges with it on the controller, and the freeze_watch role ships
this source and freeze.rotation's to the host, where its continuous checker
judges with the same code (one copy of the rules, so the timer on the host and
the auditor's `freeze verify` cannot disagree).

The volatility classes are described in freeze.drift. Inputs are plain data: the
`files` entries of two manifests (dicts of attributes) and the class of the
profile rule that governs the path; for the profile's known transient units
(`services.known_transient`), their `services` entries; for the modules it lists as
loaded on demand (`kernel.modules_on_demand`), their `modules` entries.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

R = TypeVar("R")

# Attributes computed only for the comparison, never compared themselves.
HELPER_ATTRS = frozenset({"prefix_sha256"})
# A growing file's attributes that may change as it grows.
GROWING_FILE_ATTRS = frozenset({"size", "sha256", "mtime_ns", "ctime_ns", "blocks"})
GROWING_DIR_ATTRS = frozenset({"size", "mtime_ns", "ctime_ns", "nlink"})
# A rewritten file's attributes that change when its records are rewritten.
REWRITTEN_ATTRS = frozenset({"size", "sha256", "mtime_ns", "ctime_ns", "blocks"})
# A switch symlink's attributes that change when it is pointed at another known
# target: a new link is made and renamed over the old one (new inode, times), and
# a link's size is the length of its text. Type, mode, owner, links, xattrs stay judged.
SWITCH_ATTRS = frozenset({"target", "size", "mtime_ns", "ctime_ns", "inode"})
# The `enabled` state freeze.collect.services records for a unit without a unit file
# on disk (systemd-run's): `list-unit-files` says so, and a unit only `list-units`
# shows is recorded with it too.
TRANSIENT = "transient"
# A module loaded on demand (`kernel.modules_on_demand`) may be loaded and unloaded
# after the freeze, and loaded again with another size (freeze.collect.kernel records
# the size /proc/modules gives); any other attribute recorded for it stays judged.
ON_DEMAND_ATTRS = frozenset({"size"})

# The continuous checker's own units (roles/freeze_watch: __freeze_watch_service).
# After the freeze the checker runs every period: its service is "activating" while
# it looks, "inactive" between runs, and its timer "running" or "waiting". Their
# active state is that schedule, never drift, in freeze verify and in the checker
# alike; their unit files (enabled state, the files under /etc/systemd) still are.
CHECKER_UNITS = frozenset({"freeze-watch.service", "freeze-watch.timer"})


@dataclass(frozen=True)
class AttributeChange:
    attribute: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "old": self.old, "new": self.new}


def contains(parent: str, path: str) -> bool:
    """Whether profile path `parent` covers `path` (itself or below it)."""
    return path == parent or parent == "/" or path.startswith(parent.rstrip("/") + "/")


def governing_rule(rules: Iterable[R], path: str, path_of: Callable[[R], str]) -> R | None:
    """The rule whose path is the longest one containing `path` (None: no rule covers it).
    `path_of` reads a rule's path: freeze.profile's PathRule, or the host checker's lists."""
    best: R | None = None
    for rule in rules:
        if contains(path_of(rule), path) and (best is None or len(path_of(rule)) > len(path_of(best))):
            best = rule
    return best


def attr_changes(old: Mapping[str, Any], new: Mapping[str, Any],
                 ignore: frozenset[str] = HELPER_ATTRS) -> list[AttributeChange]:
    """Every attribute that differs, except `ignore`d ones, in name order."""
    changes = []
    for attr in sorted(set(old) | set(new)):
        if attr in ignore:
            continue
        a, b = old.get(attr), new.get(attr)
        if a != b:
            changes.append(AttributeChange(attr, a, b))
    return changes


def holds_changing_entries(excludes: Iterable[str], switch_paths: Iterable[str],
                           directory: str) -> bool:
    """Whether `directory` directly holds entries whose coming and going is allowed: an
    `exclude` glob's (/root/.sudo_as_admin_successful) or a `switch` symlink (pointing
    it elsewhere renames a new link in). Either changes the directory's times."""
    prefix = directory.rstrip("/") + "/"
    return any(p.startswith(prefix) and "/" not in p[len(prefix):]
               for p in (*excludes, *switch_paths))


def switch_problem(entry: Mapping[str, Any] | None, targets: Iterable[str]) -> str | None:
    """Why `entry` (a `files` entry, None: absent) is not a `switch` symlink holding one
    of `targets`, in words; None when it is one (or absent)."""
    if entry is None:
        return None
    if entry.get("type") != "symlink":
        return f"a {entry.get('type')}, not a symlink"
    known = list(targets)
    if entry.get("target") not in known:
        return f"points at {entry.get('target')}, not one of {', '.join(known)}"
    return None


def transient_problem(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
                      ) -> str | None:
    """Why a unit the profile declares a known transient one (`services.known_transient`)
    differing between `old` (recorded) and `new` (found) is drift, in words; None when
    each side is transient or absent: such a unit may appear, change its active state
    and go. A unit file under the name (enabled, static, ...) is never forgiven: a
    persistent unit installed under the known name is what an intruder would do."""
    for entry, recorded in ((new, ""), (old, "recorded as ")):
        if entry is not None and entry.get("enabled") != TRANSIENT:
            return f"{recorded}a unit file ({entry.get('enabled')}), not transient"
    return None


def on_demand_problem(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
                      ) -> str | None:
    """Why a module the profile lists as loaded on demand (`kernel.modules_on_demand`)
    differing between `old` (recorded) and `new` (found) is drift, in words; None when
    it was loaded or unloaded since (one side absent) or only its size changed: ss,
    a monitoring agent or a network namespace loads it, a reboot unloads it. Another
    recorded attribute changing is not forgiven."""
    if old is None or new is None:
        return None
    changed = sorted(k for k in old.keys() | new.keys()
                     if k not in ON_DEMAND_ATTRS | HELPER_ATTRS and old.get(k) != new.get(k))
    if changed:
        return f"{', '.join(changed)} changed"
    return None


def known_change(section: str, key: str, old: Mapping[str, Any] | None,
                 new: Mapping[str, Any] | None, known_transient: Collection[str],
                 on_demand: Collection[str]) -> bool:
    """Whether a differing entry of a host section is a change the profile declares
    known, reported but not drift: a unit of `services.known_transient` that stayed
    transient or absent, a module of `kernel.modules_on_demand` loaded, unloaded or
    resized. freeze verify and the host checker both ask this."""
    if section == "services" and key in known_transient:
        return transient_problem(old, new) is None
    if section == "modules" and key in on_demand:
        return on_demand_problem(old, new) is None
    return False


def judge_file(old: Mapping[str, Any], new: Mapping[str, Any], volatility: str, *,
               excluded_entries: bool = False, targets: Iterable[str] = ()
               ) -> list[AttributeChange]:
    """The changes of one file entry present on both sides that its class does not allow.

    `excluded_entries`: a static directory directly holding excluded entries
    (/root/.sudo_as_admin_successful) or a switch symlink: their coming and going
    (or a switch's new link renamed in) changes the directory's times, size and link
    count, which are then not judged (its recorded entries still are, one by one).
    `targets`: a `switch` rule's known link targets.
    """
    ignore = HELPER_ATTRS
    extra: list[AttributeChange] = []
    if volatility == "excluded":
        return []
    if volatility == "switch":
        if old.get("type") == new.get("type") == "symlink":
            if new.get("target") not in list(targets):
                extra.append(AttributeChange("target (switch: not a known target)",
                                             old.get("target"), new.get("target")))
            return extra + attr_changes(old, new, ignore | SWITCH_ATTRS)
        return attr_changes(old, new, ignore)  # anything else in its place: every attribute
    if volatility == "rewritten" and old.get("type") == new.get("type") == "file":
        return attr_changes(old, new, ignore | REWRITTEN_ATTRS)
    if volatility == "rotating":
        volatility = "growing"  # rotation chains are judged before (judge_rotations)
    if volatility == "static" and excluded_entries and old.get("type") == new.get("type") == "dir":
        ignore = ignore | GROWING_DIR_ATTRS
    if volatility == "growing" and old.get("type") == new.get("type"):
        if old.get("type") == "dir":
            ignore = ignore | GROWING_DIR_ATTRS
        elif old.get("type") == "file":
            ignore = ignore | GROWING_FILE_ATTRS
            old_size, new_size = old.get("size", 0), new.get("size", 0)
            if new_size < old_size:
                extra.append(AttributeChange("size (growing: shrank)", old_size, new_size))
            elif old.get("inode") != new.get("inode"):
                pass  # reported as an inode change below
            elif new.get("prefix_sha256") not in (None, old.get("sha256")):
                extra.append(AttributeChange("content (growing: recorded bytes rewritten)",
                                             old.get("sha256"), new.get("prefix_sha256")))
            elif new.get("prefix_sha256") is None and new.get("sha256") != old.get("sha256") \
                    and new_size == old_size:
                extra.append(AttributeChange("sha256", old.get("sha256"), new.get("sha256")))
    return extra + attr_changes(old, new, ignore)


def judge_rotations(old: Mapping[str, Any], new: Mapping[str, Any], is_rotating: Callable[[str], bool]
                    ) -> tuple[set[str], dict[str, list[AttributeChange]]]:
    """Judge the log rotation chains under `rotating` paths of two `files` sections.

    Returns the keys judged here (the caller leaves them out of its own
    comparison) and the changes found, by key (freeze.rotation).
    """
    from freeze.rotation import judge_chains

    def growing(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[AttributeChange]:
        return judge_file(a, b, "growing")

    handled, failures = judge_chains(old, new, is_rotating, growing)
    return handled, {key: [AttributeChange(f.attribute, f.old, f.new) for f in found]
                     for key, found in failures.items()}
