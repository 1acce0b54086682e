#!/usr/bin/python3
"""Summarise an OpenSCAP ARF (or XCCDF results) file as one JSON document.

Usage: xccdf_summary.py PHASE RESULTS.xml [FILE ...]
Prints {phase, benchmark, profile, start/end time, counts by result, the flat pass
ratio pass / (pass + fail) as OpenSCAP's own score does not (it weights rules),
the failing and erroring rule ids, and the sha256 of every FILE given (the ARF,
the HTML report, the data stream) so the summary names the evidence it came from.
Standard library only: it runs on the scanned host with its system python3.
"""

from __future__ import annotations

import hashlib
import json
import sys
import xml.etree.ElementTree as ET

XCCDF = "{http://checklists.nist.gov/xccdf/1.2}"
RULE_PREFIX = "xccdf_org.ssgproject.content_rule_"


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def summarise(phase: str, results: str, files: list[str]) -> dict[str, object]:
    # An ARF embeds the whole data stream and the OVAL results (tens of MB): every
    # element outside the TestResult is dropped as soon as it is parsed.
    test_result, inside = None, False
    for event, element in ET.iterparse(results, events=("start", "end")):
        if element.tag == XCCDF + "TestResult":
            inside = event == "start"
            if event == "end":
                test_result = element  # the last one: an ARF holds one per scan
        elif event == "end" and not inside:
            element.clear()
    if test_result is None:
        raise SystemExit(f"xccdf_summary: {results}: no XCCDF 1.2 TestResult")
    counts: dict[str, int] = {}
    failed, errors = [], []
    for rule in test_result.iter(XCCDF + "rule-result"):
        result = (rule.findtext(XCCDF + "result") or "unknown").strip()
        counts[result] = counts.get(result, 0) + 1
        rule_id = rule.get("idref", "").removeprefix(RULE_PREFIX)
        if result == "fail":
            failed.append(rule_id)
        elif result in ("error", "unknown"):
            errors.append(rule_id)
    passed = counts.get("pass", 0) + counts.get("fixed", 0)
    judged = passed + counts.get("fail", 0)
    profile = test_result.find(XCCDF + "profile")
    benchmark = test_result.find(XCCDF + "benchmark")
    return {
        "phase": phase,
        "benchmark": benchmark.get("id") if benchmark is not None else None,
        "profile": profile.get("idref") if profile is not None else None,
        "start_time": test_result.get("start-time"),
        "end_time": test_result.get("end-time"),
        "target": test_result.findtext(XCCDF + "target"),
        "counts": dict(sorted(counts.items())),
        "pass": passed,
        "fail": counts.get("fail", 0),
        "error": counts.get("error", 0) + counts.get("unknown", 0),
        "pass_ratio": round(100.0 * passed / judged, 1) if judged else None,
        "failed_rules": sorted(failed),
        "error_rules": sorted(errors),
        "files": {path.rsplit("/", 1)[-1]: sha256(path) for path in files},
    }


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 64
    print(json.dumps(summarise(argv[1], argv[2], argv[3:]), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
