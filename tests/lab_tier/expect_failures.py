"""Prove that lab tests CAN fail: run them against an unhardened host and require
that specific tests fail there.

    python -m tests.lab_tier.expect_failures --inventory DIR --host NAME \
        --expect test_root_login_refused --expect ... [--record FILE] TEST_PATH...

Runs pytest in a subprocess (its own junit XML report), and exits 0 only if
pytest reported test failures (exit status 1, not an error or usage problem) and
every --expect test failed on that host. The command, the failing tests and
pytest's summary lines are written to --record for the lead/CI artifacts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path


def failed_tests(junit: Path) -> tuple[set[str], int, list[str]]:
    """Names (without control ids and parameters) of failed tests, how many passed, and why each failed."""
    failed: set[str] = set()
    reasons: list[str] = []
    passed = 0
    for case in ET.parse(junit).getroot().iter("testcase"):
        full = case.get("name", "")
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            # the case name is "CONTROL-ID ... test_name[params]" (tests/infra/conftest.py)
            failed.add(full.split("[", 1)[0].split()[-1])
            message = (problem.get("message") or "").strip().splitlines()
            reasons.append(f"  {full}: {message[0][:160] if message else '(no message)'}")
        elif case.find("skipped") is None:
            passed += 1
    return failed, passed, reasons


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab_tier.expect_failures", description=__doc__)
    p.add_argument("--inventory", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--expect", action="append", required=True, help="a test that must fail")
    p.add_argument("--record", type=Path)
    p.add_argument("paths", nargs="+")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "lab",
               f"--hosts=ansible://{args.host}", f"--ansible-inventory={args.inventory}",
               f"--junitxml={junit}", *args.paths]
        res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), check=False)
        failed, passed, reasons = failed_tests(junit) if junit.exists() else (set(), 0, [])
    missing = sorted(set(args.expect) - failed)
    ok = res.returncode == 1 and not missing
    summary = [ln for ln in res.stdout.splitlines() if ln.startswith(("FAILED", "ERROR")) or " passed" in ln
               or " failed" in ln]
    report = "\n".join([
        f"# Tests run against the UNHARDENED host {args.host}: they must fail.",
        "$ " + " ".join(cmd[1:]).replace(str(junit), "JUNIT.xml"),
        f"pytest exit status: {res.returncode} (1 = some tests failed)",
        f"failed ({len(failed)}): {', '.join(sorted(failed))}",
        f"passed: {passed}",
        f"expected to fail: {', '.join(sorted(args.expect))}",
        f"verdict: {'OK - the tests detect an unhardened host' if ok else 'NOT PROVEN'}"
        + (f" (did not fail: {', '.join(missing)})" if missing else ""),
        "", "why each test failed:", *reasons, "", "pytest summary:", *summary, ""])
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(report)
    print(report)
    if not ok and res.returncode not in (0, 1):
        print(res.stdout[-3000:], res.stderr[-2000:], sep="\n", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
