"""lab: each VM's vCPU count from LAB_SMP (all) and LAB_SMP_HOSTS (some)."""

from __future__ import annotations

import pytest

from lab.config import LabError
from lab.inventory import HostSpec
from lab.vm import vcpus_by_host

FLEET = [HostSpec("count-db", 2221), HostSpec("count-app", 2222), HostSpec("results-tx", 2223)]


def test_default_for_every_host_and_overrides_for_the_named_ones() -> None:
    assert vcpus_by_host(FLEET, 1, "") == {"count-db": 1, "count-app": 1, "results-tx": 1}
    assert vcpus_by_host(FLEET, 1, "count-db=2, results-tx=3") == {"count-db": 2, "count-app": 1, "results-tx": 3}


@pytest.mark.parametrize("text, message", [
    ("count-db", "is not HOST=N"),
    ("count-db=0", "is not HOST=N"),
    ("count-db=two", "is not HOST=N"),
    ("count-db=9", "is not HOST=N"),
    ("web-01=2", "'web-01' is not a host of this fleet"),
])
def test_malformed_or_unknown_hosts_are_refused(text: str, message: str) -> None:
    with pytest.raises(LabError, match=message):
        vcpus_by_host(FLEET, 1, text)
