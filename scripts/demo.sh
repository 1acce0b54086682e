#!/usr/bin/env bash
# README command 1: install what is needed, boot the lab fleet of Debian 12 VMs
# described by inventories/lab/, apply playbooks/site.yml (hardening, the counting
# database and its replica, the results website with its WAF, monitoring and log
# delivery), then run the freeze ceremony over the fleet (scripts/demo_ceremony.py:
# DEMO key holders sign, the database is zeroed, the bundle verified), verify the
# fleet against the signed manifests, run a witnessed intervention on results-tx's
# standby under load (issue 19) and, last, plant a file on count-app (named; it stays
# drifted). Prints a summary with each phase's time. The fleet stays up afterwards so you can look
# around; the summary says how to get in and how to stop it.
# DEMO_CEREMONY=0 stops after site.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0
LAB_DIR="${LAB_DIR:-$PWD/.lab/fleet}"
export LAB_DIR
ART=artifacts/demo
mkdir -p "$ART"
t0=$(date +%s)

echo "== demo: building the Debian 12 image and the offline apt repository (cached)"
python -m lab build >/dev/null
python -m lab repo >/dev/null
t1=$(date +%s)
echo "== demo: booting the fleet (qemu; about 1.5 minutes under software emulation)"
python -m lab up >/dev/null
t2=$(date +%s)
echo "== demo: ansible-playbook playbooks/site.yml (log: $ART/site.log)"
rc=0
ansible-playbook -i "$LAB_DIR/inventory" playbooks/site.yml >"$ART/site.log" 2>&1 || rc=$?
t3=$(date +%s)
crc=0
if [ $rc -eq 0 ] && [ "${DEMO_CEREMONY:-1}" != 0 ]; then
  python scripts/demo_ceremony.py --fleet "$LAB_DIR" --out "$ART" || crc=$?
fi
t4=$(date +%s)

echo
echo "== demo summary"
python -m lab status | sed 's/^/   /' || true
echo "   play recap:"
python -m lab.recap "$ART/site.log" | sed 's/^/ /' || true
echo "   timing: image+repo $((t1 - t0)) s, boot $((t2 - t1)) s, site.yml $((t3 - t2)) s, ceremony + verify $((t4 - t3)) s"
echo "   ceremony: $ART/ceremony-*/ (keys, root spec, ceremony.log, ceremony-dir/ with the evidence bundle)"
# the results website of each web host, through its forwarded port, verified with the fleet's CA
python - "$LAB_DIR" <<'PY' || true
import sys, yaml
from pathlib import Path
fleet = Path(sys.argv[1])
inv = yaml.safe_load((fleet / "inventory" / "hosts.yml").read_text())
def hosts(group):
    found = {}
    for name, sub in (group.get("children") or {}).items():
        found.update(hosts(sub or {}) if name != "results_web" else (sub or {}).get("hosts") or {})
    return found
for name, hv in hosts(inv["all"]).items():
    print(f"   results:  curl --cacert {fleet}/pki/ca.crt --resolve {name}:{hv['lab_forward_https']}:127.0.0.1 "
          f"https://{name}:{hv['lab_forward_https']}/")
PY
echo "   attack:   .venv/bin/ansible-playbook -i $LAB_DIR/inventory playbooks/attack-mode.yml -e attack_mode=on"
echo "   database: .venv/bin/python -m lab ssh count-db -- sudo -u postgres psql -d counting -c 'TABLE pg_stat_replication'"
echo "   secrets:  $LAB_DIR/secrets/ (lab-generated database and enrollment passwords; production uses ansible-vault)"
echo "   log in:   .venv/bin/python -m lab ssh count-db        (as labadmin, sudo works)"
echo "   re-run:   .venv/bin/ansible-playbook -i $LAB_DIR/inventory playbooks/site.yml"
echo "   stop:     .venv/bin/python -m lab down"
if [ $rc -ne 0 ]; then
  echo "== demo: site.yml FAILED (exit $rc); last lines of $ART/site.log:"
  tail -25 "$ART/site.log"
fi
if [ $crc -ne 0 ]; then
  echo "== demo: the ceremony phase FAILED (exit $crc); its logs are in the newest $ART/ceremony-*/"
fi
[ $rc -ne 0 ] && exit $rc
exit $crc
