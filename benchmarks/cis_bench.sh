#!/usr/bin/env bash
# CIS compliance benchmark on ONE fresh emulated lab VM (its own fleet dir and ports):
# OpenSCAP `cis_level1_server` flat pass ratio and Lynis hardening index before and
# after the baseline (playbooks/harden.yml), with the converge times beside them.
#   pass ratio = pass / (pass + fail); notapplicable/notchecked/informational do not
#   count (as in OpenSCAP's own scoring). Errors are reported separately.
# Issue 18 floors: ratio >= 95 % with 0 errors, Lynis >= 90, first converge <= 300 s.
#
# Usage: benchmarks/cis_bench.sh [--no-lynis] [--no-before] DATASTREAM
#    or: CIS_DATASTREAM=/path/ssg-debian12-ds.xml benchmarks/cis_bench.sh [--no-lynis]
# The data stream is NOT part of this project (it cannot be shipped or downloaded at
# run time): build it from the ComplianceAsCode sources outside this repository,
#   git clone https://github.com/ComplianceAsCode/content && cd content
#   apt-get install cmake python3-jinja2 python3-yaml python3-setuptools xsltproc \
#     libxml2-utils expat openscap-utils
#   ./build_product debian12 --datastream-only      # ~4 min -> build/ssg-debian12-ds.xml
# Cost: each OpenSCAP scan ~8-12 min and each Lynis run ~12 min on an emulated VM,
# so the whole benchmark takes ~45-60 min (--no-lynis: ~25-30 min).
# Env: BENCH_PORT_BASE (default 2960), BENCH_DIR (default .lab/cis-bench-fleet),
#      CIS_PROFILE (default xccdf_org.ssgproject.content_profile_cis_level1_server).
set -euo pipefail
cd "$(dirname "$0")/.."
lynis=1
before=1
ds="${CIS_DATASTREAM:-}"
for arg in "$@"; do
  case "$arg" in
    --no-lynis) lynis=0 ;;
    --no-before) before=0 ;;  # the fresh-VM figures are known: measure after hardening only
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "usage: $0 [--no-lynis] [--no-before] DATASTREAM" >&2; exit 64 ;;
    *) ds=$arg ;;
  esac
done
if [ -z "$ds" ]; then
  echo "cis_bench: no OpenSCAP data stream given (argument or CIS_DATASTREAM)." >&2
  echo "cis_bench: build one outside this repository: see '$0 --help'." >&2
  exit 2
fi
if [ ! -s "$ds" ]; then
  echo "cis_bench: data stream $ds does not exist or is empty." >&2
  exit 2
fi
ds=$(readlink -f "$ds")
profile="${CIS_PROFILE:-xccdf_org.ssgproject.content_profile_cis_level1_server}"
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_FORCE_COLOR=0 ANSIBLE_CONFIG="$PWD/ansible.cfg"
export LAB_DIR="${BENCH_DIR:-$PWD/.lab/cis-bench-fleet}" LAB_PORT_BASE="${BENCH_PORT_BASE:-2960}"
ART=artifacts/cis-bench; mkdir -p "$ART"
work=$(mktemp -d); trap 'python -m lab down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# A plain counting server (no extra group services), with the lab's policy files.
mkdir -p "$work/inv"; ln -s "$PWD/inventories/lab/group_vars" "$work/inv/group_vars"
printf 'all:\n  children:\n    counting_servers:\n      hosts:\n        bench-1:\n          ansible_port: 2221\n' > "$work/inv/hosts.yml"

# t LOG CMD...: run CMD with its output in LOG, print the elapsed seconds; stop on failure.
t() {
  local log=$1 s; shift; s=$(date +%s.%N)
  "$@" >"$log" 2>&1 || { tail -30 "$log" >&2; echo "cis_bench: failed, see $log" >&2; exit 1; }
  python3 -c 'import sys,time; print(round(time.time() - float(sys.argv[1]), 1))' "$s"
}
echo "== booting one fresh lab VM"; python -m lab up --inventory "$work/inv/hosts.yml" >/dev/null
INV="$LAB_DIR/inventory"
run() { ansible-playbook -i "$INV" "$@"; }
adhoc() { ansible -i "$INV" bench-1 -b "$@"; }

# The scanner comes from the lab repository (lab/repo-packages.txt); the data stream
# lives under /var/lib (os_baseline makes /tmp a fresh tmpfs).
echo "== installing the scanner and copying the data stream"
{ adhoc -m ansible.builtin.apt -a "name=openscap-scanner state=present" \
  && adhoc -m ansible.builtin.file -a "path=/var/lib/cis-bench state=directory mode=0700" \
  && adhoc -m ansible.builtin.copy -a "src=$ds dest=/var/lib/cis-bench/ds.xml mode=0600"; } \
  >"$ART/oscap-install.log" 2>&1 \
  || { tail -20 "$ART/oscap-install.log" >&2; echo "cis_bench: scanner setup failed, see $ART/oscap-install.log" >&2; exit 1; }

# oscap PHASE: scan (polled, so SSH never times out), fetch the stdout and the ARF.
# oscap exits 2 when a rule fails: that is a result, not an error.
oscap_scan() {
  local phase=$1
  adhoc -B 3600 -P 20 -m ansible.builtin.shell -a "cd /var/lib/cis-bench && \
    { oscap xccdf eval --profile $profile --results-arf $phase-arf.xml --report $phase-report.html \
      ds.xml > $phase-oscap.txt 2>&1; rc=\$?; [ \$rc -ne 1 ]; }" >"$ART/oscap-$phase.log" 2>&1 \
    || { tail -20 "$ART/oscap-$phase.log" >&2; echo "cis_bench: oscap $phase failed" >&2; exit 1; }
  for f in oscap.txt arf.xml report.html; do
    adhoc -m ansible.builtin.fetch -a "src=/var/lib/cis-bench/$phase-$f dest=$ART/$phase-$f flat=true" >/dev/null
  done
}
# counts PHASE: "pass fail error notapplicable ratio" from the oscap stdout.
counts() {
  python3 - "$ART/$1-oscap.txt" <<'PY'
import collections, re, sys
results = collections.Counter(re.findall(r"(?m)^Result\s+(\S+)", open(sys.argv[1]).read()))
p, f = results["pass"] + results["fixed"], results["fail"]
ratio = 100.0 * p / (p + f) if p + f else 0.0
print(p, f, results["error"] + results["unknown"], results["notapplicable"], "%.1f" % ratio)
PY
}
lynis_run() {
  run playbooks/harden.yml --tags "lynis_$1" -e lynis_evidence_enabled=true \
    -e lynis_evidence_controller_dir="$PWD/$ART"
}
idx() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hardening_index"])' "$1" 2>/dev/null || echo n/a; }

tb=-
if [ $before = 1 ]; then echo "== OpenSCAP before hardening (~10 min)"; tb=$(t "$ART/time-oscap-before.log" oscap_scan before); fi
if [ $lynis = 1 ] && [ $before = 1 ]; then echo "== Lynis before hardening (~12 min)"; t "$ART/lynis-before.log" lynis_run before >/dev/null; fi
echo "== first converge (harden.yml)"
first=$(t "$ART/converge1.log" run playbooks/harden.yml --skip-tags lynis_before,lynis_after)
echo "== idempotent re-converge"
noop=$(t "$ART/converge2.log" run playbooks/harden.yml --skip-tags lynis_before,lynis_after)
changed=$(sed -n 's/^bench-1 .*changed=\([0-9]*\).*/\1/p' "$ART/converge2.log" | tail -1)
echo "== OpenSCAP after hardening (~10 min)"; ta=$(t "$ART/time-oscap-after.log" oscap_scan after)
if [ $lynis = 1 ]; then echo "== Lynis after hardening (~12 min)"; t "$ART/lynis-after.log" lynis_run after >/dev/null; fi

bp=- bf=- be=- bn=- br=-
if [ $before = 1 ]; then read -r bp bf be bn br < <(counts before); fi
read -r ap af ae an ar < <(counts after)
printf '\n%-44s %12s %12s %10s\n' "measure" "before" "after" "goal"
printf '%-44s %12s %12s %10s\n' "OpenSCAP $profile pass ratio %" "$br" "$ar" ">= 95"
printf '%-44s %12s %12s %10s\n' "  pass / fail" "$bp/$bf" "$ap/$af" "-"
printf '%-44s %12s %12s %10s\n' "  errors (error + unknown)" "$be" "$ae" "0"
printf '%-44s %12s %12s %10s\n' "  notapplicable" "$bn" "$an" "-"
printf '%-44s %12s %12s %10s\n' "  scan time s" "$tb" "$ta" "-"
if [ $lynis = 1 ]; then
  printf '%-44s %12s %12s %10s\n' "Lynis hardening index" "$(idx "$ART/bench-1-lynis-before.json")" \
    "$(idx "$ART/bench-1-lynis-after.json")" ">= 90"
fi
printf '%-44s %12s %12s %10s\n' "first converge s (harden.yml)" "-" "$first" "<= 300"
printf '%-44s %12s %12s %10s\n' "idempotent re-converge s (changed=$changed)" "-" "$noop" "changed=0"
echo "failing rules after hardening:"
python3 - "$ART/after-oscap.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for rule, result in re.findall(r"(?m)^Rule\s+xccdf_org\.ssgproject\.content_rule_(\S+)\n(?:(?!Rule\s).*\n)*?Result\s+(\S+)", text):
    if result in ("fail", "error", "unknown"):
        print("  %s (%s)" % (rule, result))
PY
echo "(ARF, HTML reports, logs and Lynis JSON in $ART/)"
[ "${changed:-1}" = 0 ]
