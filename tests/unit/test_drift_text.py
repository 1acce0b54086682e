"""The drift report a person reads: host named, rows by table and primary key,
times as dates, a summary before the detail, what was left out after "clean"."""

from __future__ import annotations

from freeze.drift import ADDED, CHANGED, REMOVED, DriftEntry, DriftReport
from freeze.drift_text import format_value, render_drift_text
from freeze.judge import AttributeChange
from freeze.profile import parse_profile

LONG = "/srv/counting/" + "very-long-directory-name-" * 6 + "tally.py"


def _report() -> DriftReport:
    return DriftReport(manifest_digest="ab" * 32, host={"hostname": "count-db"}, entries=[
        DriftEntry(CHANGED, "file", LONG, "files", (
            AttributeChange("mtime_ns", 1_700_000_000_000_000_000, 1_700_000_060_500_000_000),
            AttributeChange("sha256", "a" * 64, "b" * 64))),
        DriftEntry(REMOVED, "db_row", "public.results[7]", "db_rows", attributes={"sha256": "c" * 64}),
        DriftEntry(CHANGED, "db_row", "public.results[8]", "db_rows", (
            AttributeChange("sha256", "d" * 64, "e" * 64),)),
        DriftEntry(ADDED, "db_row", "public.ballots[1]", "db_rows", attributes={"sha256": "f" * 64}),
    ])


def test_times_are_dates():
    assert format_value("mtime_ns", 1_700_000_000_000_000_000) == "2023-11-14 22:13:20.000000 UTC"
    assert format_value("size", 12) == "12" and format_value("uid", None) == "-"


def test_summary_before_detail_and_host_named():
    lines = render_drift_text(_report(), manifest="m.json")
    text = "\n".join(lines)
    assert lines[0] == "host: count-db"
    assert "drift on host count-db: 1 added, 1 removed, 2 changed (exit 7)" in text
    assert text.index("summary by kind:") < text.index("detail:")
    assert "  database row: 1 removed, 1 added, 1 changed" in lines
    assert "  file: 1 changed" in lines
    assert "  public.ballots: 1 row(s)" in lines and "  public.results: 2 row(s)" in lines
    assert "- removed: table public.results, row with primary key (7)" in lines
    # the long path stands whole on one line; times are dates, old and new one under the other
    assert f"- changed: file {LONG}" in lines
    i = lines.index("    modified (mtime):")
    assert lines[i + 1] == "      old: 2023-11-14 22:13:20.000000 UTC"
    assert lines[i + 2] == "      new: 2023-11-14 22:14:20.500000 UTC"


def test_clean_lists_what_was_deliberately_left_out():
    profile = parse_profile(b"""
paths:
  - {path: /srv/counting, exclude: ["*.pyc"]}
  - {path: /var/log/counting, volatility: growing}
  - {path: /srv/cache, volatility: excluded}
database:
  dsn_env: X
  exclude_tables: [public.sessions]
  volatile_sequences: [public.sheet_no]
""")
    lines = render_drift_text(DriftReport(manifest_digest="0" * 64, host={"hostname": "h1"}),
                              manifest="m.json", profile=profile)
    i = lines.index("clean: host h1 matches the manifest")
    assert lines[i + 2] == "deliberately not content-checked (by the profile):"
    rest = lines[i + 3:]
    assert rest == ["  path /srv/counting: entries matching *.pyc (excluded)",
                    "  path /var/log/counting (growing: only the recorded prefix is checked)",
                    "  path /srv/cache (excluded: not recorded)",
                    "  table public.sessions (excluded: content not checked)",
                    "  sequence public.sheet_no (position not compared)"]


def test_max_entries_cuts_the_detail_not_the_summary():
    lines = render_drift_text(_report(), manifest="m.json", max_entries=1)
    assert "... 3 more (use --json)" in lines and "  public.results: 2 row(s)" in lines


def test_switch_state_is_shown_under_clean_and_listed_as_left_out():
    from freeze.drift import SwitchState

    profile = parse_profile(b"paths:\n  - path: /etc/web/sel\n    volatility: switch\n"
                            b"    targets: [n.conf, a.conf]\n", "p.yml")
    report = DriftReport(manifest_digest="ab" * 32, host={"hostname": "results-tx"}, switches=[
        SwitchState("/etc/web/sel", ("n.conf", "a.conf"), recorded="n.conf", active="a.conf")])
    lines = render_drift_text(report, manifest="m.json", profile=profile)
    at = lines.index("clean: host results-tx matches the manifest")
    assert lines[at + 1] == "switch /etc/web/sel: a.conf (recorded n.conf; known: n.conf, a.conf)"
    assert "  path /etc/web/sel (switch: a symlink that may point at any of n.conf, a.conf)" in lines


def test_known_transient_units_are_shown_under_clean_and_listed_as_left_out():
    from freeze.drift import TransientUnit

    profile = parse_profile(b"services:\n  known_transient: [revert.timer, revert.service]\n", "p.yml")
    report = DriftReport(manifest_digest="ab" * 32, host={"hostname": "results-tx"}, transient_units=[
        TransientUnit("revert.service", recorded=None, active=None, enabled=None),
        TransientUnit("revert.timer", recorded=None, active="active/waiting", enabled="transient")])
    lines = render_drift_text(report, manifest="m.json", profile=profile)
    at = lines.index("clean: host results-tx matches the manifest")
    assert lines[at + 1:at + 3] == ["unit revert.service: absent (transient; known)",
                                    "unit revert.timer: active/waiting (transient; known)"]
    assert ("  units revert.timer, revert.service (known transient: may start, change state "
            "and go while they have no unit file)") in lines


def test_modules_loaded_on_demand_are_shown_under_clean_and_listed_as_left_out():
    """Issue 17: the routine day's reboot unloaded inet_diag: reported, not drift."""
    from freeze.drift import OnDemandModule

    profile = parse_profile(b"kernel:\n  modules_on_demand: [tcp_diag, inet_diag, veth]\n", "p.yml")
    report = DriftReport(manifest_digest="ab" * 32, host={"hostname": "count-db"}, on_demand_modules=[
        OnDemandModule("inet_diag", recorded_size=28672, size=None),
        OnDemandModule("veth", recorded_size=None, size=40960)])
    lines = render_drift_text(report, manifest="m.json", profile=profile)
    at = lines.index("clean: host count-db matches the manifest")
    assert lines[at + 1:at + 3] == [
        "kernel module inet_diag: not loaded now (loaded at the freeze; on demand, known)",
        "kernel module veth: loaded now (not loaded at the freeze; on demand, known)"]
    assert ("  kernel modules tcp_diag, inet_diag, veth (loaded on demand: may be loaded, unloaded "
            "and change size)") in lines
    drifted = DriftReport(manifest_digest="ab" * 32, host={"hostname": "count-db"},
                          entries=_report().entries[:1], on_demand_modules=report.on_demand_modules)
    lines = render_drift_text(drifted, manifest="m.json", profile=profile)
    at = next(i for i, line in enumerate(lines) if line.startswith("drift on host count-db"))
    assert lines[at + 1] == "kernel module inet_diag: not loaded now (loaded at the freeze; on demand, known)"
