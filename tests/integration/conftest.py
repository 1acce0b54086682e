"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_ceremony import Ceremony, run_ceremony


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ceremony]:
    """A full ceremony whose local TSA stays up for the module (modules may override)."""
    c = run_ceremony(tmp_path_factory.mktemp("ceremony"), keep_tsa=True)
    yield c
    assert c.tsa is not None
    c.tsa.stop()
