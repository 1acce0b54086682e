"""freeze zero: back up (verified), clear the results in one transaction, and
prove it with a zero report computed from base tables. See `freeze.zero.run`."""

from freeze.zero.run import DriftGate, Preview, ZeroResult, ZeroSession
from freeze.zero.spec import ZeroSpec, parse_zero_spec

__all__ = ["DriftGate", "Preview", "ZeroResult", "ZeroSession", "ZeroSpec", "parse_zero_spec"]
