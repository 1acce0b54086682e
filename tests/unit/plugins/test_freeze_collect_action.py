"""The controller side of election.freeze.freeze_collect (plugins/action/freeze_collect.py)."""

from __future__ import annotations


def test_the_collect_action_names_the_active_switch_target():
    """playbooks/verify.yml's task result (election.freeze.freeze_collect with a baseline)
    says which known target a switch points at; results without switches are unchanged."""
    from ansible_collections.election.freeze.plugins.action.freeze_collect import _drift_summary

    from freeze.drift import DriftReport, SwitchState

    report = DriftReport(switches=[SwitchState("/etc/s", ("a", "b"), recorded="a", active="b")])
    assert _drift_summary(report)["drift_switches"] == ["switch /etc/s: b (recorded a; known: a, b)"]
    assert _drift_summary(report)["drift_clean"] is True
    assert "drift_switches" not in _drift_summary(DriftReport())


def test_the_collect_action_names_known_transient_units():
    """Issue 12: verify.yml's result says what the known transient units (the results
    website's revert timer) are doing; results of profiles without them are unchanged."""
    from ansible_collections.election.freeze.plugins.action.freeze_collect import _drift_summary

    from freeze.drift import DriftReport, TransientUnit

    report = DriftReport(transient_units=[
        TransientUnit("revert.timer", recorded=None, active="active/waiting", enabled="transient")])
    assert _drift_summary(report)["drift_transient_units"] == [
        "unit revert.timer: active/waiting (transient; known)"]
    assert _drift_summary(report)["drift_clean"] is True
    assert "drift_transient_units" not in _drift_summary(DriftReport())


def test_the_collect_action_names_modules_loaded_on_demand():
    """Issue 17: verify.yml's result says which modules loaded on demand (ss's sock_diag
    modules, veth) were loaded or unloaded since the freeze; other results are unchanged."""
    from ansible_collections.election.freeze.plugins.action.freeze_collect import _drift_summary

    from freeze.drift import DriftReport, OnDemandModule

    report = DriftReport(on_demand_modules=[OnDemandModule("inet_diag", recorded_size=28672, size=None)])
    assert _drift_summary(report)["drift_on_demand_modules"] == [
        "kernel module inet_diag: not loaded now (loaded at the freeze; on demand, known)"]
    assert _drift_summary(report)["drift_clean"] is True
    assert "drift_on_demand_modules" not in _drift_summary(DriftReport())
