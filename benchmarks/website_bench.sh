#!/usr/bin/env bash
# Partial benchmark of the results website (issue 12, item 4 - first cut): wrk
# (Debian package) against the lab host's forwarded HTTPS port, a results page,
# normal mode (hardened + WAF) vs attack mode, from an allowlisted client (so the
# WAF's cost is measured, not the rate limiter). Not yet: the plain-nginx baseline,
# the 50x flood with a paced client, the plot.
#   benchmarks/website_bench.sh PORT SSH_PORT [SECONDS]
set -euo pipefail
port=${1:?forwarded https port}; ssh_port=${2:?ssh port}; secs=${3:-10}
key=${LAB_CACHE:-.lab/cache}/ssh/id_ed25519
ssh_do() { ssh -q -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i "$key" \
  -p "$ssh_port" labadmin@127.0.0.1 "$@"; }
run() {
  wrk -t2 -c8 -d"${secs}s" --latency -H "Host: results-tx" -H "X-Forwarded-For: 192.0.2.50" \
    -H "User-Agent: Mozilla/5.0 bench" -H "Accept: text/html" \
    "https://127.0.0.1:$port/index.html?contest=president" \
    | awk -v m="$1" '/Requests\/sec/{rps=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} /Non-2xx/{bad=$NF}
                     END{printf "%-8s %10s req/s  p50 %8s  p99 %8s  non-2xx %s\n", m, rps, p50, p99, bad+0}'
}
ssh_do sudo /usr/local/sbin/results-website-mode normal bench >/dev/null
run normal
start=$(date +%s.%N); ssh_do sudo /usr/local/sbin/results-website-mode attack 600 bench >/dev/null
echo "switch on via ssh: $(echo "$(date +%s.%N) - $start" | bc) s"
run attack
ssh_do sudo /usr/local/sbin/results-website-mode normal bench >/dev/null
