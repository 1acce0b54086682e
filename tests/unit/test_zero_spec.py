"""The `zero:` profile section is validated strictly, with one-line errors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from freeze.errors import EXIT_DATAERR, InputError
from freeze.zero.spec import QualifiedName, parse_zero_spec

REFDB = Path(__file__).resolve().parents[2] / "freeze" / "refdb" / "profile.yml"


@pytest.fixture
def raw():
    return copy.deepcopy(yaml.safe_load(REFDB.read_text())["zero"])


def test_reference_profile_parses(raw):
    spec = parse_zero_spec(raw)
    assert spec.election_id == "GE-2026"
    assert [c.method for c in spec.clear] == ["truncate"] * 4
    assert QualifiedName("counting", "tally_votes") in spec.clear_tables
    # locks cover the cleared tables too, in one sorted order (no lock-order deadlock)
    assert list(spec.locked_tables) == sorted(spec.locked_tables)
    assert set(spec.clear_tables) <= set(spec.locked_tables)
    assert len(spec.report.sections) == 5
    assert spec.report.sections[0].totals == ("votes",)
    assert all(s.min_rows == 1 for s in spec.report.sections)


def _error(raw) -> str:
    with pytest.raises(InputError) as exc:
        parse_zero_spec(raw)
    assert exc.value.exit_code == EXIT_DATAERR
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_missing_section():
    assert "no 'zero:' section" in _error(None)


def test_unknown_key_is_an_error_not_ignored(raw):
    raw["clera"] = []
    assert "unknown key 'clera'" in _error(raw)


def test_missing_key(raw):
    del raw["election_id"]
    assert "missing required key 'election_id'" in _error(raw)


def test_bad_method(raw):
    raw["clear"][1]["method"] = "drop"
    assert "zero.clear[1].method" in _error(raw)


def test_unqualified_table(raw):
    raw["clear"][0] = "tally_votes"
    assert "schema-qualified" in _error(raw)


def test_duplicate_table(raw):
    raw["clear"].append({"table": "COUNTING.tally_votes"})  # unquoted names fold to lower case
    assert "listed twice" in _error(raw)


def test_quoted_identifiers_keep_case():
    name = QualifiedName.parse('"Results"."Votes ""x"""', "t")
    assert (name.schema, name.name) == ("Results", 'Votes "x"')
    assert str(name) == '"Results"."Votes ""x"""'


def test_query_must_be_one_select(raw):
    raw["report"]["sections"][0]["query"] = "DELETE FROM counting.tally_votes"
    assert "SELECT" in _error(raw)
    raw["report"]["sections"][0]["query"] = "SELECT 1 AS votes; DROP TABLE x"
    assert "one SELECT statement" in _error(raw)


def test_query_parameters_are_checked(raw):
    raw["report"]["sections"][0]["query"] = "SELECT %(election)s AS votes"
    assert "unknown parameter %(election)s" in _error(raw)


def test_trailing_semicolon_is_fine(raw):
    raw["report"]["sections"][0]["query"] = "SELECT 0 AS votes;"
    assert parse_zero_spec(raw).report.sections[0].query == "SELECT 0 AS votes"


def test_label_and_total_overlap(raw):
    raw["report"]["sections"][0]["labels"].append("votes")
    assert "both a label and a total" in _error(raw)


def test_totals_required(raw):
    raw["report"]["sections"][0]["totals"] = []
    assert "must not be empty" in _error(raw)


def test_sequence_restart_must_be_integer(raw):
    raw["sequences"][0] = {"sequence": "counting.s", "restart": "1"}
    assert "zero.sequences[0].restart" in _error(raw)


def test_numeric_election_id_is_text(raw):
    raw["election_id"] = 2026
    assert parse_zero_spec(raw).election_id == "2026"


def test_signatures_as_count(raw):
    raw["report"]["signatures"] = 3
    assert parse_zero_spec(raw).report.signatures == ("", "", "")


def test_reset_columns_refresh_and_rehearsal_parse(raw):
    raw["reset_columns"] = [{"table": "counting.counters", "columns": ["votes", "sheets"]}]
    raw["refresh"] = ["counting.totals_mv"]
    raw["rehearsal"] = ["INSERT INTO counting.audit_log (actor, action) VALUES ('a', 'b');"]
    spec = parse_zero_spec(raw)
    assert spec.reset_columns[0].columns == ("votes", "sheets")
    assert QualifiedName("counting", "counters") in spec.locked_tables  # counters are locked too
    assert spec.refresh == (QualifiedName("counting", "totals_mv"),)
    assert spec.rehearsal[0].endswith("'b')")


@pytest.mark.parametrize("key, value, message", [
    ("reset_columns", [{"table": "counting.tally_votes", "columns": ["votes"]}],
     "zero.reset_columns[0].table: counting.tally_votes is in zero.clear"),
    ("reset_columns", [{"table": "counting.counters", "columns": []}],
     "zero.reset_columns[0].columns: must not be empty"),
    ("reset_columns", [{"table": "counting.counters"}],
     "zero.reset_columns[0]: missing required key 'columns'"),
    ("refresh", "counting.totals_mv", "zero.refresh: expected a list"),
    ("rehearsal", ["INSERT INTO a.b VALUES (1); DELETE FROM a.b"],
     "zero.rehearsal[0]: one statement only"),
])
def test_new_zero_keys_errors_name_the_key(raw, key, value, message):
    raw[key] = value
    assert message in _error(raw)
