#!/usr/bin/env bash
# The auditor's suite (issue 15): tests/infra against any Ansible inventory, one JUnit
# XML whose test cases are named by the controls they check ("CIS-5.1.20
# test_root_login_refused[ansible://count-db]"; catalogue: tests/infra/controls.py).
#
#   scripts/audit-suite.sh INVENTORY [--hosts PATTERN] [--junit OUT.xml] [--with-writes]
#       [--ceremony DIR [--profile FILE|DIR]]
#       [--manifests DIR --root FILE [--envelope FILE] [--fleet FILE] --profile FILE]
#       [-- PYTEST_ARGS...]
#
# --ceremony DIR is a directory playbooks/freeze-ceremony.yml made: it sets the
# manifests (DIR/manifests), the root (DIR/ceremony/root.json), the signed statement
# (DIR/ceremony/manifest.dsse.json), the fleet manifest (DIR/manifests/fleet-manifest.json)
# and each host's composed profile (DIR/profiles/HOST.profile.yml)
# for test_frozen_state ("this host matches its signed manifest", EF-FRZ-5); the
# explicit options override any of them. Without a ceremony or manifests that test skips.
# Tests marked `writes` change a host to probe it (a probe user, a marker file, rows in
# the counting database, a forced log rotation): left out unless --with-writes, since an
# audit of a frozen production fleet must not change it (the lab tier runs them all).
# PYTEST_ARGS go to pytest as they are (e.g. -n 3 for one worker per host, -k ssh).
# Exit status: pytest's (0 all passed or skipped, 1 a test failed, 2+ a usage or run error).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-64}"; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage 0 ;; esac
inventory=$1; shift
hosts=all junit=artifacts/audit/audit-suite.xml select="lab and not writes"
ceremony="" manifests="" root="" envelope="" fleet="" profile=""
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) hosts=$2; shift 2 ;;
    --with-writes) select=lab; shift ;;
    --junit) junit=$2; shift 2 ;;
    --ceremony) ceremony=$2; shift 2 ;;
    --manifests) manifests=$2; shift 2 ;;
    --root) root=$2; shift 2 ;;
    --envelope) envelope=$2; shift 2 ;;
    --fleet) fleet=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    *) echo "audit-suite: unknown option $1 (PYTEST_ARGS go after --)" >&2; usage ;;
  esac
done
[ -e "$inventory" ] || { echo "audit-suite: no inventory $inventory" >&2; exit 66; }
if [ -n "$ceremony" ]; then
  [ -d "$ceremony/manifests" ] || { echo "audit-suite: $ceremony/manifests: not a ceremony directory" >&2; exit 66; }
  manifests=${manifests:-$ceremony/manifests}
  root=${root:-$ceremony/ceremony/root.json}
  envelope=${envelope:-$ceremony/ceremony/manifest.dsse.json}
  [ -n "$fleet" ] || [ ! -f "$ceremony/manifests/fleet-manifest.json" ] || fleet=$ceremony/manifests/fleet-manifest.json
  # each host's composed profile, as the ceremony recorded it
  [ -n "$profile" ] || [ ! -d "$ceremony/profiles" ] || profile=$ceremony/profiles
fi
freeze=()
[ -z "$manifests" ] || freeze+=("--freeze-manifests=$manifests")
[ -z "$profile" ] || freeze+=("--freeze-profile=$profile")
[ -z "$root" ] || freeze+=("--freeze-root=$root")
[ -z "$envelope" ] || freeze+=("--freeze-envelope=$envelope")
[ -z "$fleet" ] || freeze+=("--freeze-fleet=$fleet")
mkdir -p "$(dirname "$junit")"
echo "== auditor's suite: tests/infra ($select) on '$hosts' of $inventory -> $junit"
run() {  # run JUNIT PYTEST_ARGS...: one pytest pass over the inventory
  local out=$1; shift
  "$PY" -m pytest -p no:cacheprovider -q -m "$select" --hosts="ansible://$hosts" --ansible-inventory="$inventory" \
    --junitxml="$out" "$@"
}
rc=0
if [ ${#freeze[@]} -gt 0 ]; then
  # The frozen-state check first, in a pass of its own: other tests probe the hosts (a
  # probe user, audit records, marker files), and with -n N they would run beside it.
  r1=0 r2=0
  run "$junit.frozen" tests/infra/test_frozen_state.py "${freeze[@]}" "$@" || r1=$?
  run "$junit" tests/infra --ignore=tests/infra/test_frozen_state.py "$@" || r2=$?
  # 5 is pytest's "no tests selected": a -k that keeps only one pass's tests is no error
  if [ $r1 -eq 5 ] && [ $r2 -eq 5 ]; then rc=5
  else [ $r1 -eq 5 ] && r1=0; [ $r2 -eq 5 ] && r2=0; rc=$(( r1 != 0 ? r1 : r2 )); fi
  # one JUnit file for the report: the frozen-state suite joins the others
  "$PY" - "$junit" "$junit.frozen" <<'PY'
import os
import sys
import xml.etree.ElementTree as ET
main, frozen = (ET.parse(p) for p in sys.argv[1:3])
main.getroot().extend(frozen.getroot().iter("testsuite"))
main.write(sys.argv[1] + ".tmp", encoding="utf-8", xml_declaration=True)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
os.unlink(sys.argv[2])
PY
else
  run "$junit" tests/infra "$@" || rc=$?
fi
# the totals, for the console; the JUnit file holds each control's outcome per host
"$PY" - "$junit" <<'PY' || true
import sys
import xml.etree.ElementTree as ET
n = {"passed": 0, "failed": 0, "skipped": 0}
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    outcome = ("failed" if case.find("failure") is not None or case.find("error") is not None
               else "skipped" if case.find("skipped") is not None else "passed")
    n[outcome] += 1
print(f"== {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped; JUnit XML: {sys.argv[1]}")
PY
exit $rc
