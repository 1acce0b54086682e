"""Check an ansible-playbook log's PLAY RECAP: ``python -m lab.recap LOG``.

Exit 0 when every host is reachable with failed=0 (and, with --max-changed N, at
most N changed tasks per host); prints one line per host either way. Used by
scripts/test-lab.sh (idempotence: --max-changed 0) and scripts/demo.sh (summary).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse(text: str) -> dict[str, dict[str, int]]:
    """Per-host counters from the last PLAY RECAP block of a log."""
    text = ANSI.sub("", text)
    block = text.rsplit("PLAY RECAP", 1)
    if len(block) != 2:
        return {}
    return {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP_LINE.finditer(block[1])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.recap", description=__doc__)
    p.add_argument("log", type=Path)
    p.add_argument("--max-changed", type=int, help="fail if a host changed more tasks than this")
    p.add_argument("--hosts", type=int, help="fail unless exactly this many hosts are in the recap")
    args = p.parse_args(argv)
    try:
        hosts = parse(args.log.read_text(errors="replace"))
    except OSError as exc:
        print(f"recap: error: cannot read {args.log}: {exc.strerror}", file=sys.stderr)
        return 66
    if not hosts:
        print(f"recap: error: no PLAY RECAP in {args.log}", file=sys.stderr)
        return 1
    bad = []
    for host, c in sorted(hosts.items()):
        print(f"  {host:<16} ok={c['ok']:<4} changed={c['changed']:<4} "
              f"unreachable={c['unreachable']} failed={c['failed']}")
        if c["failed"] or c["unreachable"]:
            bad.append(f"{host} failed/unreachable")
        elif args.max_changed is not None and c["changed"] > args.max_changed:
            bad.append(f"{host} changed={c['changed']} (max {args.max_changed})")
    if args.hosts is not None and len(hosts) != args.hosts:
        bad.append(f"{len(hosts)} hosts in the recap, expected {args.hosts}")
    if bad:
        print(f"recap: FAILED: {'; '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
