"""The `zero:` section of a freeze profile: what a zero clears and how it proves it.

The section is trusted configuration written by the directorate for its own
counting system (never read from a manifest or bundle). It is validated in two
passes, both before anything is changed:

1. `parse_zero_spec`: shape and types, strictly (unknown keys are errors, so a
   typo never silently disables a safeguard). Error: `InputError` (exit 65).
2. `freeze.zero.catalog.check_against_catalog`: every table, sequence and report
   query exists and fits the live database. Error: `ConfigMismatchError` (exit 78).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from psycopg import sql

from freeze.errors import InputError

ClearMethod = Literal["delete", "truncate"]

_PLAIN_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_QUALIFIED = re.compile(r'^(?P<s>"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\.'
                        r'(?P<n>"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)$')
# The only parameter a report query may use; any other %(...)s is a typo.
_PARAM = re.compile(r"%\((\w+)\)s")
REPORT_PARAMS = frozenset({"election_id"})


@dataclass(frozen=True, order=True)
class QualifiedName:
    """schema.name as PostgreSQL stores it (unquoted parts folded to lower case)."""

    schema: str
    name: str

    @classmethod
    def parse(cls, text: Any, where: str) -> QualifiedName:
        if not isinstance(text, str) or not (m := _QUALIFIED.match(text.strip())):
            raise InputError(f"profile {where}: expected a schema-qualified name like "
                             f"'counting.tally_votes', got {text!r}")

        def part(p: str) -> str:
            return p[1:-1].replace('""', '"') if p.startswith('"') else p.lower()

        return cls(part(m["s"]), part(m["n"]))

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        def show(p: str) -> str:
            return p if _PLAIN_IDENT.fullmatch(p) and p == p.lower() else '"' + p.replace('"', '""') + '"'

        return f"{show(self.schema)}.{show(self.name)}"


@dataclass(frozen=True)
class ClearTable:
    table: QualifiedName
    method: ClearMethod


@dataclass(frozen=True)
class SequenceReset:
    sequence: QualifiedName
    restart: int | None  # None: the sequence's own START value


@dataclass(frozen=True)
class ColumnReset:
    """Counter columns set back to 0, rows kept (totals a trigger maintains)."""

    table: QualifiedName
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ReportSection:
    title: str
    query: str
    labels: tuple[str, ...]
    totals: tuple[str, ...]
    min_rows: int


@dataclass(frozen=True)
class ReportSpec:
    title: str
    election_query: str
    sections: tuple[ReportSection, ...]
    signatures: tuple[str, ...]  # one blank signature block per entry, captioned with a role


@dataclass(frozen=True)
class BackupSpec:
    pg_bindir: str | None = None
    dir: str | None = None


@dataclass(frozen=True)
class ZeroSpec:
    election_id: str
    clear: tuple[ClearTable, ...]
    sequences: tuple[SequenceReset, ...]
    lock: tuple[QualifiedName, ...]
    report: ReportSpec
    backup: BackupSpec = field(default_factory=BackupSpec)
    lock_timeout_seconds: int = 30
    reset_columns: tuple[ColumnReset, ...] = ()
    refresh: tuple[QualifiedName, ...] = ()  # materialized views, refreshed after clearing
    # statements that count a vote, run after the clear in a savepoint that is
    # rolled back: proof the zeroed database can still count
    rehearsal: tuple[str, ...] = ()

    @property
    def clear_tables(self) -> tuple[QualifiedName, ...]:
        return tuple(c.table for c in self.clear)

    @property
    def locked_tables(self) -> tuple[QualifiedName, ...]:
        """Every table the zero transaction locks, in a fixed order (no lock-order deadlocks)."""
        return tuple(sorted(set(self.clear_tables) | set(self.lock)
                            | {r.table for r in self.reset_columns}))


_DEFAULT_SIGNATURES = ("Presiding authority", "Systems director", "Party observer",
                       "Party observer", "Independent auditor", "Notary")


def _check_keys(raw: dict[str, Any], where: str, required: set[str], optional: set[str]) -> None:
    unknown = sorted(set(raw) - required - optional)
    if unknown:
        raise InputError(f"profile {where}: unknown key {unknown[0]!r} "
                         f"(allowed: {', '.join(sorted(required | optional))})")
    missing = sorted(required - set(raw))
    if missing:
        raise InputError(f"profile {where}: missing required key {missing[0]!r}")


def _mapping(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InputError(f"profile {where}: expected a mapping, got {type(raw).__name__}")
    return raw


def _list(raw: Any, where: str, *, nonempty: bool = False) -> list[Any]:
    if not isinstance(raw, list):
        raise InputError(f"profile {where}: expected a list, got {type(raw).__name__}")
    if nonempty and not raw:
        raise InputError(f"profile {where}: must not be empty")
    return raw


def _text(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InputError(f"profile {where}: expected a non-empty string")
    return raw.strip()


def _int(raw: Any, where: str, minimum: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        raise InputError(f"profile {where}: expected an integer >= {minimum}, got {raw!r}")
    return raw


def _query(raw: Any, where: str) -> str:
    q = _text(raw, where).rstrip().rstrip(";").rstrip()
    if ";" in q:
        raise InputError(f"profile {where}: one SELECT statement only (found ';')")
    if not re.match(r"(?is)^\s*(select|with)\b", q):
        raise InputError(f"profile {where}: must be a SELECT (or WITH ... SELECT) query")
    for name in _PARAM.findall(q):
        if name not in REPORT_PARAMS:
            raise InputError(f"profile {where}: unknown parameter %({name})s "
                             f"(available: %(election_id)s; write a literal % as %%)")
    return q


def _columns(raw: Any, where: str, *, nonempty: bool) -> tuple[str, ...]:
    cols = tuple(_text(c, f"{where}[{i}]") for i, c in enumerate(_list(raw, where, nonempty=nonempty)))
    if len(set(cols)) != len(cols):
        raise InputError(f"profile {where}: duplicate column name")
    return cols


def _parse_section(raw: Any, where: str) -> ReportSection:
    raw = _mapping(raw, where)
    _check_keys(raw, where, {"title", "query", "totals"}, {"labels", "min_rows"})
    labels = _columns(raw.get("labels", []), f"{where}.labels", nonempty=False)
    totals = _columns(raw["totals"], f"{where}.totals", nonempty=True)
    if set(labels) & set(totals):
        raise InputError(f"profile {where}: a column cannot be both a label and a total")
    return ReportSection(
        title=_text(raw["title"], f"{where}.title"),
        query=_query(raw["query"], f"{where}.query"),
        labels=labels, totals=totals,
        # an empty zero report proves nothing: by default a section must list something
        min_rows=_int(raw.get("min_rows", 1), f"{where}.min_rows", 0),
    )


def _parse_report(raw: Any) -> ReportSpec:
    where = "zero.report"
    raw = _mapping(raw, where)
    _check_keys(raw, where, {"election_query", "sections"}, {"title", "signatures"})
    sections = tuple(_parse_section(s, f"{where}.sections[{i}]")
                     for i, s in enumerate(_list(raw["sections"], f"{where}.sections", nonempty=True)))
    sig_raw = raw.get("signatures", list(_DEFAULT_SIGNATURES))
    if isinstance(sig_raw, int) and not isinstance(sig_raw, bool):
        signatures = ("",) * _int(sig_raw, f"{where}.signatures", 1)
    else:
        signatures = tuple(str(s).strip() for s in _list(sig_raw, f"{where}.signatures", nonempty=True))
    return ReportSpec(
        title=_text(raw.get("title", "Zero report of the counting database"), f"{where}.title"),
        election_query=_query(raw["election_query"], f"{where}.election_query"),
        sections=sections, signatures=signatures,
    )


def parse_zero_spec(raw: Any) -> ZeroSpec:
    """Validate the raw `zero:` mapping of a profile. Raises InputError (one line)."""
    if raw is None:
        raise InputError("profile has no 'zero:' section (needed by freeze zero)")
    raw = _mapping(raw, "zero")
    _check_keys(raw, "zero", {"election_id", "clear", "report"},
                {"sequences", "lock", "backup", "lock_timeout_seconds", "reset_columns",
                 "refresh", "rehearsal"})
    election_id = raw["election_id"]
    if isinstance(election_id, int) and not isinstance(election_id, bool):
        election_id = str(election_id)
    election_id = _text(election_id, "zero.election_id")

    clear: list[ClearTable] = []
    for i, item in enumerate(_list(raw["clear"], "zero.clear", nonempty=True)):
        where = f"zero.clear[{i}]"
        if isinstance(item, str):
            item = {"table": item}
        item = _mapping(item, where)
        _check_keys(item, where, {"table"}, {"method"})
        method = item.get("method", "delete")
        if method not in ("delete", "truncate"):
            raise InputError(f"profile {where}.method: must be 'delete' or 'truncate', got {method!r}")
        clear.append(ClearTable(QualifiedName.parse(item["table"], f"{where}.table"), method))
    names = [c.table for c in clear]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(f"profile zero.clear: table {dup} is listed twice")

    sequences: list[SequenceReset] = []
    for i, item in enumerate(_list(raw.get("sequences", []), "zero.sequences")):
        where = f"zero.sequences[{i}]"
        if isinstance(item, str):
            item = {"sequence": item}
        item = _mapping(item, where)
        _check_keys(item, where, {"sequence"}, {"restart"})
        restart = item.get("restart")
        if restart is not None and (isinstance(restart, bool) or not isinstance(restart, int)):
            raise InputError(f"profile {where}.restart: expected an integer, got {restart!r}")
        sequences.append(SequenceReset(QualifiedName.parse(item["sequence"], f"{where}.sequence"),
                                       restart))
    seqs = [s.sequence for s in sequences]
    if len(set(seqs)) != len(seqs):
        raise InputError("profile zero.sequences: a sequence is listed twice")

    lock = tuple(QualifiedName.parse(t, f"zero.lock[{i}]")
                 for i, t in enumerate(_list(raw.get("lock", []), "zero.lock")))

    resets: list[ColumnReset] = []
    for i, item in enumerate(_list(raw.get("reset_columns", []), "zero.reset_columns")):
        where = f"zero.reset_columns[{i}]"
        item = _mapping(item, where)
        _check_keys(item, where, {"table", "columns"}, set())
        table = QualifiedName.parse(item["table"], f"{where}.table")
        if table in names:
            raise InputError(f"profile {where}.table: {table} is in zero.clear; its rows go, "
                             f"there is nothing left to reset")
        if table in {r.table for r in resets}:
            raise InputError(f"profile {where}.table: {table} is listed twice")
        resets.append(ColumnReset(table, _columns(item["columns"], f"{where}.columns",
                                                  nonempty=True)))
    refresh = tuple(QualifiedName.parse(t, f"zero.refresh[{i}]")
                    for i, t in enumerate(_list(raw.get("refresh", []), "zero.refresh")))
    if len(set(refresh)) != len(refresh):
        raise InputError("profile zero.refresh: a materialized view is listed twice")
    rehearsal = []
    for i, statement in enumerate(_list(raw.get("rehearsal", []), "zero.rehearsal")):
        text = _text(statement, f"zero.rehearsal[{i}]").rstrip().rstrip(";").rstrip()
        if ";" in text:
            raise InputError(f"profile zero.rehearsal[{i}]: one statement only (found ';')")
        if _PARAM.search(text.replace("%(election_id)s", "")):
            raise InputError(f"profile zero.rehearsal[{i}]: unknown parameter "
                             f"(available: %(election_id)s; write a literal % as %%)")
        rehearsal.append(text)

    backup_raw = _mapping(raw.get("backup", {}), "zero.backup")
    _check_keys(backup_raw, "zero.backup", set(), {"pg_bindir", "dir"})
    backup = BackupSpec(
        pg_bindir=_text(backup_raw["pg_bindir"], "zero.backup.pg_bindir") if "pg_bindir" in backup_raw else None,
        dir=_text(backup_raw["dir"], "zero.backup.dir") if "dir" in backup_raw else None,
    )
    return ZeroSpec(
        election_id=election_id, clear=tuple(clear), sequences=tuple(sequences), lock=lock,
        report=_parse_report(raw["report"]), backup=backup,
        lock_timeout_seconds=_int(raw.get("lock_timeout_seconds", 30), "zero.lock_timeout_seconds", 1),
        reset_columns=tuple(resets), refresh=refresh, rehearsal=tuple(rehearsal),
    )
