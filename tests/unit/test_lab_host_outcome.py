"""tests/infra/lab_host.host_outcome: the lockout_guard lab tests run each scenario
once over every host and read each host's outcome from that one run. Another host's
failure or change must never be read as this host's."""

from __future__ import annotations

import pytest

from tests.infra.lab_host import host_outcome

RUN = """PLAY [all] ***
TASK [election.freeze.lockout_guard : Probe] ***
Sunday 29 November 2026  06:13:27 +0000 (0:00:00.070)       0:00:08.823 *******
ok: [count-db]
fatal: [results-tx]: FAILED! => changed=false
  assertion: operator in allow_users
  msg: 'LOCKOUT RISK: the operator labadmin is not in AllowUsers'
changed: [count-app]

PLAY RECAP *********************************************************************
count-app                  : ok=5  changed=1   unreachable=0    failed=0    skipped=2   rescued=0    ignored=0
count-db                   : ok=5  changed=0   unreachable=0    failed=0    skipped=2   rescued=0    ignored=0
results-tx                 : ok=2  changed=0   unreachable=0    failed=1    skipped=0   rescued=0    ignored=0
"""


@pytest.mark.parametrize("host, failed, changed, lockout", [
    ("results-tx", True, 0, True),
    ("count-db", False, 0, False),
    ("count-app", False, 1, False),
])
def test_each_host_reads_its_own_outcome(host: str, failed: bool, changed: int, lockout: bool) -> None:
    outcome = host_outcome(RUN, host)
    assert (outcome.ran, outcome.failed, outcome.changed) == (True, failed, changed)
    assert ("LOCKOUT RISK" in outcome.output) is lockout


def test_a_host_missing_from_the_recap_did_not_run() -> None:
    outcome = host_outcome(RUN, "other-host")
    assert not outcome.ran and outcome.failed


def test_an_unreachable_host_failed() -> None:
    run = "PLAY RECAP ***\ncount-db : ok=0 changed=0 unreachable=1 failed=0 skipped=0\n"
    assert host_outcome(run, "count-db").failed
