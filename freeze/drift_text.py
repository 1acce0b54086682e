"""A drift report a person can read: plain text lines from a `DriftReport`.

Pure: a report (and optionally the operator's profile) in, lines out; the CLI
prints them. Keys and paths are never wrapped (each stands on its own line), times
are shown as UTC dates, database rows are named by table and primary key, a
summary per kind and per table comes before the detail, and what the profile
deliberately leaves out is listed so "clean" is not read as "everything checked".
The JSON output (`DriftReport.to_dict`) is unchanged.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from freeze.drift import ADDED, CHANGED, COLUMN_PREFIX, REMOVED, DriftEntry, DriftReport
from freeze.profile import Profile

_TIME_ATTRS = frozenset({"mtime_ns", "ctime_ns", "atime_ns"})
_CATEGORY_ORDER = (REMOVED, ADDED, CHANGED)
# attribute names as a reader knows them (the JSON keeps the manifest's names)
_ATTRIBUTE_LABELS = {"mtime_ns": "modified (mtime)", "ctime_ns": "inode changed (ctime)",
                     "atime_ns": "accessed (atime)"}


def kind_label(kind: str) -> str:
    """db_table_content -> "database table content": the manifest's kind in words."""
    words = kind.replace("_", " ")
    return "database " + words[3:] if kind.startswith("db_") else words


def attribute_label(attribute: str) -> str:
    return _ATTRIBUTE_LABELS.get(attribute, attribute)


def format_value(attribute: str, value: Any) -> str:
    """One value as a person reads it: nanosecond times as UTC dates, None as '-'."""
    if value is None:
        return "-"
    if attribute in _TIME_ATTRS and isinstance(value, int) and not isinstance(value, bool):
        when = datetime.fromtimestamp(value / 1e9, tz=UTC)
        return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    return str(value)


def row_table(entry: DriftEntry) -> str | None:
    """The table a database-row entry belongs to ("schema.table"), else None."""
    if entry.kind != "db_row" or "[" not in entry.key:
        return None
    return entry.key.split("[", 1)[0]


def _row_label(entry: DriftEntry) -> str:
    table, _, rest = entry.key.partition("[")
    pk = rest[:-1] if rest.endswith("]") else rest
    # the key is the row constructor's text, "(1)" or "(1,a)": shown once in parentheses
    if not (pk.startswith("(") and pk.endswith(")")):
        pk = f"({pk})"
    return f"table {table}, row with primary key {pk}"


def _attribute_lines(attributes: dict[str, Any]) -> list[str]:
    """What appeared or went: one attribute a line; a row's columns one a line."""
    out: list[str] = []
    for k in sorted(attributes, key=lambda a: (a.endswith("sha256"), a)):  # digests last
        if k == "prefix_sha256":
            continue
        value = attributes[k]
        if k == "values" and isinstance(value, dict):
            out.extend(f"    {COLUMN_PREFIX}{col}: {format_value('', value[col])}"
                       for col in sorted(value))
        else:
            out.append(f"    {attribute_label(k)}: {format_value(k, value)}")
    return out


def excluded_lines(profile: Profile | None) -> list[str]:
    """What the profile deliberately does not content-check, one line each."""
    if profile is None:
        return []
    out: list[str] = []
    for rule in profile.paths:
        if rule.volatility == "excluded":
            out.append(f"path {rule.path} (excluded: not recorded)")
        elif rule.volatility == "growing":
            out.append(f"path {rule.path} (growing: only the recorded prefix is checked)")
        elif rule.volatility == "rotating":
            out.append(f"path {rule.path} (rotating: only the recorded prefix is checked, "
                       f"followed through numbered log rotation)")
        elif rule.volatility == "rewritten":
            out.append(f"path {rule.path} (rewritten: content, size and times not checked)")
        elif rule.volatility == "switch":
            out.append(f"path {rule.path} (switch: a symlink that may point at any of "
                       f"{', '.join(rule.targets)})")
        for pattern in rule.exclude:
            out.append(f"path {rule.path}: entries matching {pattern} (excluded)")
    if profile.known_transient:
        out.append(f"units {', '.join(profile.services['known_transient'])} (known transient: "
                   f"may start, change state and go while they have no unit file)")
    if profile.modules_on_demand:
        out.append(f"kernel modules {', '.join(profile.kernel['modules_on_demand'])} (loaded on "
                   f"demand: may be loaded, unloaded and change size)")
    db = profile.database
    if db is not None:
        for table in db.exclude_tables:
            out.append(f"table {table} (excluded: content not checked)")
        for seq in db.volatile_sequences:
            out.append(f"sequence {seq} (position not compared)")
    return out


def render_drift_text(report: DriftReport, *, manifest: str, profile: Profile | None = None,
                      max_entries: int | None = None) -> list[str]:
    """The whole report as lines: header, summary, detail, then what was left out."""
    host = report.host.get("hostname") or "(unknown host)"
    lines = [f"host: {host}", f"manifest: {manifest}",
             f"manifest sha256: {report.manifest_digest}"]
    if report.is_clean:
        lines.append(f"clean: host {host} matches the manifest")
        lines.extend(report.known_state_lines())
    else:
        counts = report.counts()
        lines.append(f"drift on host {host}: {counts[ADDED]} added, {counts[REMOVED]} removed, "
                     f"{counts[CHANGED]} changed (exit {report.exit_code})")
        lines.extend(report.known_state_lines())
        lines.append("")
        lines.append("summary by kind:")
        per_kind: Counter[tuple[str, str]] = Counter((e.kind, e.category) for e in report.entries)
        for kind in sorted({k for k, _ in per_kind}):
            parts = [f"{per_kind[(kind, c)]} {c}" for c in _CATEGORY_ORDER if per_kind[(kind, c)]]
            lines.append(f"  {kind_label(kind)}: {', '.join(parts)}")
        per_table: Counter[str] = Counter(t for e in report.entries if (t := row_table(e)))
        if per_table:
            lines.append("summary by table (rows):")
            for table, n in sorted(per_table.items()):
                lines.append(f"  {table}: {n} row(s)")
        lines.append("")
        lines.append("detail:")
        shown = report.entries if max_entries is None else report.entries[:max_entries]
        for entry in shown:
            label = _row_label(entry) if row_table(entry) else f"{kind_label(entry.kind)} {entry.key}"
            lines.append(f"- {entry.category}: {label}")
            # what a person compares first (columns, mode, owner...), digests last
            for ch in sorted(entry.changes, key=lambda c: c.attribute.endswith("sha256")):
                lines.append(f"    {attribute_label(ch.attribute)}:")
                lines.append(f"      old: {format_value(ch.attribute, ch.old)}")
                lines.append(f"      new: {format_value(ch.attribute, ch.new)}")
            if not entry.changes and entry.attributes:
                lines.extend(_attribute_lines(entry.attributes))
        if max_entries is not None and len(report.entries) > max_entries:
            lines.append(f"... {len(report.entries) - max_entries} more (use --json)")
    for note in report.notes:
        lines.append(f"note: {note}")
    left_out = excluded_lines(profile)
    if left_out:
        lines.append("")
        lines.append("deliberately not content-checked (by the profile):")
        lines.extend(f"  {line}" for line in left_out)
    return lines
