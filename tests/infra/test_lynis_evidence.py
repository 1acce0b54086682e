"""lynis_evidence on a lab host: what the role leaves there when it is on, i.e. a
local fact /etc/ansible/facts.d/lynis_<phase>.fact per audited phase that
summarises a real Lynis report (kept next to it under lynis_evidence_host_dir),
and that Ansible's setup reads back as ansible_local.lynis_<phase>.

The role is off by default (a full audit takes ~12 min on a lab VM) and the lab
tier converges site.yml without it, so on such a host these tests skip."""

from __future__ import annotations

import pytest

from tests.infra.lab_host import evidence_facts, hostvars


@pytest.fixture(scope="module")
def evidence(host) -> dict[str, dict]:  # noqa: ANN001
    """{phase: summary} read from every lynis_<phase>.fact on the host."""
    return evidence_facts(host, "lynis_evidence", "the role's default: "
                          "a full Lynis audit takes ~12 min on a lab VM")


@pytest.mark.control("EF-LYN-1")
def test_fact_summarises_a_lynis_run_of_this_host(host, evidence: dict[str, dict]) -> None:  # noqa: ANN001
    hv = hostvars(host)
    facts_dir = hv.get("lynis_evidence_facts_dir", "/etc/ansible/facts.d")
    hostname = host.check_output("hostname")
    installed = host.package("lynis")
    assert installed.is_installed
    for phase, summary in evidence.items():
        fact = host.file(f"{facts_dir}/lynis_{phase}.fact")
        assert (fact.user, fact.group, fact.mode) == ("root", "root", 0o644), phase
        assert summary["phase"] == phase
        assert summary["hostname"] == hostname
        assert installed.version.startswith(summary["lynis_version"]), (installed.version, summary["lynis_version"])
        assert 0 < summary["hardening_index"] <= 100
        assert summary["tests_performed"] > 0
        assert summary["warning_count"] == len(summary["warnings"])
        assert summary["suggestion_count"] == len(summary["suggestions"])
        assert summary["report_datetime_start"] <= summary["report_datetime_end"]


@pytest.mark.control("EF-LYN-2")
def test_raw_report_kept_and_matches_the_fact(host, evidence: dict[str, dict]) -> None:  # noqa: ANN001
    """The summary comes from the report Lynis wrote, which stays on the host (root only)."""
    host_dir = hostvars(host).get("lynis_evidence_host_dir", "/var/lib/lynis_evidence")
    with host.sudo():
        for phase, summary in evidence.items():
            run_dir = host.file(f"{host_dir}/{phase}")
            assert run_dir.is_directory and run_dir.mode == 0o700 and run_dir.user == "root", phase
            report = host.check_output(f"cat {host_dir}/{phase}/report.dat")
            values = dict(line.split("=", 1) for line in report.splitlines() if "=" in line and "[]" not in line)
            assert int(values["hardening_index"]) == summary["hardening_index"]
            assert values["report_datetime_end"] == summary["report_datetime_end"]
            assert sum(line.startswith("warning[]=") for line in report.splitlines()) == summary["warning_count"]
            assert host.file(f"{host_dir}/{phase}/lynis.log").size > 0


@pytest.mark.control("EF-LYN-3")
def test_ansible_reads_the_local_fact(host, evidence: dict[str, dict]) -> None:  # noqa: ANN001
    local = host.ansible("setup", "filter=ansible_local")["ansible_facts"]["ansible_local"]
    for phase, summary in evidence.items():
        assert local[f"lynis_{phase}"]["hardening_index"] == summary["hardening_index"]
