"""openscap_evidence on a lab host: what the role leaves there when it is on, i.e. a
local fact /etc/ansible/facts.d/openscap_<phase>.fact per scanned phase that
summarises a real `oscap xccdf eval` of this host, with the ARF results and the
HTML report kept under openscap_evidence_host_dir and named in the fact by sha256.

The role is off by default (it needs the operator's data stream, and a CIS scan
takes ~10 min on a lab VM) and the lab tier converges site.yml without it, so on
such a host these tests skip; its molecule scenario turns it on with the project's
own two-rule test data stream."""

from __future__ import annotations

import pytest

from tests.infra.lab_host import evidence_facts, hostvars


@pytest.fixture(scope="module")
def evidence(host) -> dict[str, dict]:  # noqa: ANN001
    """{phase: summary} read from every openscap_<phase>.fact on the host."""
    return evidence_facts(host, "openscap_evidence", "the role's default: it needs "
                          "the operator's data stream, and a CIS scan takes ~10 min on a lab VM")


@pytest.mark.control("EF-SCAP-1")
def test_fact_summarises_an_openscap_scan_of_this_host(host, evidence: dict[str, dict]) -> None:  # noqa: ANN001
    for phase, doc in evidence.items():
        assert doc["phase"] == phase
        counts = doc["counts"]
        assert doc["pass"] == counts.get("pass", 0) + counts.get("fixed", 0)
        assert doc["fail"] == counts.get("fail", 0) and doc["pass"] + doc["fail"] > 0
        assert doc["pass_ratio"] == round(100.0 * doc["pass"] / (doc["pass"] + doc["fail"]), 1)
        assert len(doc["failed_rules"]) == doc["fail"]
        assert doc["profile"] == hostvars(host).get(
            "openscap_evidence_profile", "xccdf_org.ssgproject.content_profile_cis_level1_server")


@pytest.mark.control("EF-SCAP-2")
def test_results_stay_on_the_host_and_match_the_fact(host, evidence: dict[str, dict]) -> None:  # noqa: ANN001
    base = hostvars(host).get("openscap_evidence_host_dir", "/var/lib/openscap_evidence")
    with host.sudo():
        assert host.file(base).mode == 0o700 and host.file(base).user == "root"
        for phase, doc in evidence.items():
            for name in ("arf.xml", "report.html"):
                path = f"{base}/{phase}/{name}"
                digest = host.check_output(f"sha256sum {path}").split()[0]
                assert digest == doc["files"][name], path
            # the ARF really is this host's scan: its TestResult names this host as target
            target = host.check_output(f"grep -o -m1 '<target>[^<]*</target>' {base}/{phase}/arf.xml")
            assert doc["target"] and f"<target>{doc['target']}</target>" == target.strip()
            assert doc["target"] == host.check_output("hostname")
