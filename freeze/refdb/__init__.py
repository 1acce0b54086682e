"""The reference counting database: a realistic official-count schema with
generated base data and, for drills, simulated results.

`python -m freeze.refdb --dsn-env VAR --tables 35000 --drill` builds it. The lab,
the demos, the tests and `benchmarks/zero_bench.py` load it; `profile.yml` next
to this file is the matching freeze profile `zero:` section.
"""

from freeze.refdb.build import ELECTION_CODE, RefDbSize, build, load_drill_results

__all__ = ["ELECTION_CODE", "RefDbSize", "build", "load_drill_results"]
