#!/usr/bin/env bash
# Hardening benchmark on ONE fresh emulated lab VM (its own fleet dir and ports):
#   Lynis hardening index before/after, first converge time and no-op re-converge
#   time of ssh_hardening + os_baseline + nftables_firewall + audit_trail, each also
#   expressed in "task units" of a reference workload measured in the same run
#   (the per-task cost of a trivial module call on this VM right now).
# Issue floors: first converge <= 300 s, no-op <= 90 s, Lynis after >= 85.
# Usage: benchmarks/hardening_bench.sh [--no-lynis | --no-lynis-before]
#   (Lynis: ~12-14 min per run; the fresh image's index does not change between
#    runs of the same image, so --no-lynis-before saves one of them)
# Env: BENCH_PORT_BASE (default 2920), BENCH_DIR (default .lab/bench-fleet).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_FORCE_COLOR=0 ANSIBLE_CONFIG="$PWD/ansible.cfg"
lynis=1; lynis_before=1
case "${1:-}" in
  --no-lynis) lynis=0; lynis_before=0 ;;
  --no-lynis-before) lynis_before=0 ;;
  "") ;;
  *) echo "usage: $0 [--no-lynis | --no-lynis-before]" >&2; exit 64 ;;
esac
export LAB_DIR="${BENCH_DIR:-$PWD/.lab/bench-fleet}" LAB_PORT_BASE="${BENCH_PORT_BASE:-2920}"
ART=artifacts/bench; mkdir -p "$ART"
work=$(mktemp -d); trap 'python -m lab down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# A plain counting server (no extra group services), with the lab's policy files.
mkdir -p "$work/inv"; ln -s "$PWD/inventories/lab/group_vars" "$work/inv/group_vars"
printf 'all:\n  children:\n    counting_servers:\n      hosts:\n        bench-1:\n          ansible_port: 2221\n' > "$work/inv/hosts.yml"

# t LOG CMD...: run CMD with its output in LOG, print the elapsed seconds; stop on failure.
t() {
  local log=$1 s; shift; s=$(date +%s.%N)
  "$@" >"$log" 2>&1 || { tail -30 "$log" >&2; echo "bench: failed, see $log" >&2; exit 1; }
  python3 -c 'import sys,time; print(round(time.time() - float(sys.argv[1]), 1))' "$s"
}
calc() { python3 -c "print(round($1, 1))"; }
echo "== booting one fresh lab VM"; python -m lab up --inventory "$work/inv/hosts.yml" >/dev/null
INV="$LAB_DIR/inventory"
run() { ansible-playbook -i "$INV" "$@"; }

echo "== reference: 10 trivial tasks"
ref=$(t "$ART/reference.log" run benchmarks/reference_tasks.yml)
unit=$(calc "$ref / 10")

if [ $lynis_before = 1 ]; then
  echo "== Lynis before hardening (~12 min)"
  t "$ART/lynis-before.log" run benchmarks/hardening_bench.yml --tags lynis_before \
    -e lynis_evidence_enabled=true -e lynis_evidence_controller_dir="$PWD/$ART" >/dev/null
fi
echo "== first converge"
first=$(t "$ART/converge1.log" run benchmarks/hardening_bench.yml --skip-tags lynis_before,lynis_after)
echo "== no-op re-converge"
noop=$(t "$ART/converge2.log" run benchmarks/hardening_bench.yml --skip-tags lynis_before,lynis_after)
changed=$(sed -n 's/.*changed=\([0-9]*\).*/\1/p' "$ART/converge2.log" | head -1)
if [ $lynis = 1 ]; then
  echo "== Lynis after hardening (~12 min)"
  t "$ART/lynis-after.log" run benchmarks/hardening_bench.yml --tags lynis_after \
    -e lynis_evidence_enabled=true -e lynis_evidence_controller_dir="$PWD/$ART" >/dev/null
fi

idx() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hardening_index"])' "$1" 2>/dev/null || echo n/a; }
printf '\n%-40s %10s %12s %10s\n' "measure" "value" "task units" "floor"
printf '%-40s %9.1fs %12s %10s\n' "reference: one trivial task" "$unit" "1.0" "-"
printf '%-40s %9.1fs %12.1f %10s\n' "first converge (4 roles + guards)" "$first" "$(calc "$first / $unit")" "300 s"
printf '%-40s %9.1fs %12.1f %10s\n' "no-op re-converge (changed=$changed)" "$noop" "$(calc "$noop / $unit")" "90 s"
if [ $lynis_before = 1 ]; then
  printf '%-40s %10s %12s %10s\n' "Lynis hardening index before" "$(idx "$ART/bench-1-lynis-before.json")" "-" "-"
fi
if [ $lynis = 1 ]; then
  printf '%-40s %10s %12s %10s\n' "Lynis hardening index after" "$(idx "$ART/bench-1-lynis-after.json")" "-" ">= 85"
fi
echo "(logs and Lynis JSON in $ART/)"
