"""Load and stress benchmark of the results website (issue 12), on one lab VM.

Everything is measured in the same run, on the same VM, through the same forwarded
HTTPS port (qemu's NAT stands for the load balancer, so X-Forwarded-For names the
client), and reported as ratios against a reference from that run:

  1. throughput and latency of a results page with `wrk` from an allowlisted client
     (so the rate limiter is out of the way and the WAF's own cost is measured):
       * reference: the same nginx, TLS, headers and cache policy with no WAF rules
         (ModSecurity's engine off) and no limits (a temporary third mode file,
         removed afterwards);
       * normal mode: hardened + ModSecurity/CRS (goal: at least 60 % of the
         reference throughput, i.e. the WAF costs at most 40 %);
       * attack mode;
  2. a flood from ONE client at 50x its per-client rate (normal mode; wrk at the
     per-client connection limit) while a well-behaved client, paced under the
     limit, keeps requesting: its success rate (goal >= 99 %) and p99 against its
     own p99 without the flood measured just before (goal: at most 2x);
  3. the attack-mode playbook's wall time on the web tier (goal: <= 30 s), when
     --inventory is given.

Writes a table (Markdown) and a plot (SVG, no plotting library needed) to
--out (default artifacts/bench/), and prints the table. The VM is left in normal
mode with no extra file. Needs: wrk (Debian package), ssh, ansible-playbook.

Usage:
  python benchmarks/website_bench.py --inventory .lab/fleet/inventory [--host results-tx]
  python benchmarks/website_bench.py --https-port 2253 --ssh-port 2223
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWITCH = "/usr/local/sbin/results-website-mode"
CONF_DIR = "/etc/nginx/results-website"
PAGE = "/index.html?contest=president"
ALLOWLISTED = "192.0.2.50"  # inside the lab's allowlist (documentation range)
FLOODER = "198.51.100.66"  # outside it: rate limited
PACED = "198.51.100.77"  # outside it: a normal visitor under the limit
BENCH_MODE = "bench-plain"


@dataclass
class Load:
    """One wrk run."""

    label: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    requests: int


@dataclass
class Paced:
    """The paced client's view of one phase."""

    label: str
    sent: int
    ok: int
    p50_ms: float
    p99_ms: float
    # what the requests that were not answered 200 got instead: "429", "ConnectionResetError", ...
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def success(self) -> float:
        return self.ok / self.sent if self.sent else 0.0


class Host:
    """The VM under test, reached over ssh (commands) and its HTTPS forward."""

    def __init__(self, https_port: int, ssh_port: int, key: str, user: str = "labadmin") -> None:
        self.https_port = https_port
        self.ssh = ["ssh", "-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
                    "-i", key, "-p", str(ssh_port), f"{user}@127.0.0.1"]

    def run(self, command: str, stdin: str | None = None) -> str:
        r = subprocess.run([*self.ssh, command], input=stdin, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise SystemExit(f"website_bench: `{command}` failed on the host: {r.stderr.strip()}")
        return r.stdout

    def mode(self, name: str) -> None:
        current = json.loads(self.run(f"sudo {SWITCH} status"))["mode"]
        switch = f"sudo {SWITCH} {name} {'600 ' if name == 'attack' else ''}bench >/dev/null"
        if current == name:
            self.run(switch)  # no reload (attack: the revert timer re-armed)
        else:
            self.reload_with(switch)

    def reload_with(self, command: str) -> None:
        """Run `command` (which reloads nginx) and return once the reload is over.

        `systemctl reload nginx` returns when the master has its signal; the master
        then parses the configuration (seconds with the CRS on the emulated CPU),
        starts new workers and only then tells the old ones to finish. A keep-alive
        connection an old worker accepted meanwhile is closed when it goes idle: a
        measurement started before that would count the reload, not the site.
        """
        self.run("bash -s", stdin=f"""set -e
workers() {{ pgrep -f '^nginx: worker process$' | sort || true; }}
before=$(workers)
{command}
for _ in $(seq 1 600); do
  now=$(workers)
  if [ -n "$now" ] && [ -z "$(comm -12 <(echo "$before") <(echo "$now"))" ] \
     && ! pgrep -f 'nginx: worker process is shutting down' >/dev/null; then exit 0; fi
  sleep 0.1
done
echo "nginx's old workers still there 60 s after the reload" >&2
exit 1
""")

    def reference_mode_on(self) -> None:
        """No rules and no limits: a temporary mode file beside the two real ones.

        The mode file is included in the same (http) context as nginx.conf's
        `modsecurity on;`, where a second `modsecurity` directive is refused; so
        the reference keeps the module loaded and points it at a rules file that
        only says `SecRuleEngine Off` (no rule is evaluated). If nginx -t refuses
        the file, the selector goes back to normal at once.
        """
        normal = self.run(f"sudo cat {CONF_DIR}/mode-normal.conf")
        plain = "\n".join(
            line for line in normal.splitlines()
            if not line.startswith(("limit_req ", "limit_conn ", "modsecurity_rules_file "))
        ) + f"\nmodsecurity_rules_file {CONF_DIR}/modsecurity-{BENCH_MODE}.conf;\n"
        self.run(f"sudo tee {CONF_DIR}/modsecurity-{BENCH_MODE}.conf >/dev/null", stdin="SecRuleEngine Off\n")
        self.run(f"sudo tee {CONF_DIR}/mode-{BENCH_MODE}.conf >/dev/null", stdin=plain)
        self.reload_with(f"cd {CONF_DIR} && sudo ln -sfn mode-{BENCH_MODE}.conf active-mode.conf "
                         "&& { sudo nginx -t -q || { sudo ln -sfn mode-normal.conf active-mode.conf; false; }; } "
                         "&& sudo systemctl reload nginx")

    def reference_mode_off(self) -> None:
        self.mode("normal")
        self.run(f"sudo rm -f {CONF_DIR}/mode-{BENCH_MODE}.conf {CONF_DIR}/modsecurity-{BENCH_MODE}.conf")


def wrk(port: int, label: str, seconds: int, client: str, connections: int = 8) -> Load:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-H", "Host: results-tx", "-H", f"X-Forwarded-For: {client}",
         "-H", "User-Agent: Mozilla/5.0 (bench)", "-H", "Accept: text/html",
         f"https://127.0.0.1:{port}{PAGE}"],
        capture_output=True, text=True, check=True).stdout

    def ms(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            raise SystemExit(f"website_bench: no {pct}% latency in wrk's output:\n{out}")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    assert rps and total, out
    return Load(label, float(rps.group(1)), ms("50"), ms("99"), int(bad.group(1)) if bad else 0,
                int(total.group(1)))


def paced_client(port: int, label: str, rate: float, seconds: int) -> Paced:
    """A browser-like visitor: one keep-alive connection, `rate` requests per second."""
    samples: list[tuple[float, bool, float]] = []
    failures: dict[str, int] = {}
    end = time.monotonic() + seconds
    paced_requests(port, rate, lambda: time.monotonic() >= end, samples, failures=failures)
    latencies = [ms for _, _, ms in samples]
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return Paced(label, len(samples), sum(ok for _, ok, _ in samples), round(statistics.median(latencies), 1),
                 round(q[98], 1), failures)


def paced_requests(port: int, rate: float, stop: Callable[[], bool], samples: list[tuple[float, bool, float]],
                   client: str = PACED, failures: dict[str, int] | None = None) -> None:
    """One keep-alive visitor at `rate` requests per second until `stop()`: appends (start time
    (time.monotonic), answered 200, latency ms) per request to `samples` (also used by
    scripts/demo_ceremony.py's load during the witnessed intervention, several of them in threads);
    counts in `failures`, if given, what each request not answered 200 got (its status, or the error)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the lab CA is checked by the tests; here only timing matters
    headers = {"Host": "results-tx", "X-Forwarded-For": client, "User-Agent": "Mozilla/5.0 (paced)",
               "Accept": "text/html"}
    conn: http.client.HTTPSConnection | None = None
    sent = 0
    start = time.monotonic()
    while not stop():
        now = time.monotonic()
        due = start + sent / rate
        if due > now:
            time.sleep(due - now)
        sent += 1
        t0 = time.monotonic()
        ok = False
        reason = ""
        try:
            if conn is None:
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
            conn.request("GET", PAGE, headers=headers)
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200
            reason = "" if ok else str(resp.status)
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            reason = type(exc).__name__
            if conn is not None:
                conn.close()
            conn = None
        if not ok and failures is not None:
            failures[reason] = failures.get(reason, 0) + 1
        samples.append((t0, ok, (time.monotonic() - t0) * 1000))
    if conn is not None:
        conn.close()


def playbook_seconds(inventory: str, mode: str) -> float:
    t0 = time.monotonic()
    subprocess.run(["ansible-playbook", "-i", inventory, str(REPO / "playbooks/attack-mode.yml"),
                    "-e", f"attack_mode={mode}"], check=True, capture_output=True, cwd=REPO)
    return round(time.monotonic() - t0, 1)


def svg_plot(loads: list[Load], paced: list[Paced]) -> str:
    """Two bar groups: requests/s per mode, and p50/p99 of the paced client."""
    width, height, top, bottom = 720, 320, 40, 260
    bars: list[str] = []
    peak = max(x.requests_per_s for x in loads) or 1.0
    for i, x in enumerate(loads):
        h = (bottom - top) * x.requests_per_s / peak
        xpos = 40 + i * 100
        bars.append(f'<rect x="{xpos}" y="{bottom - h:.0f}" width="60" height="{h:.0f}" fill="#3465a4"/>'
                    f'<text x="{xpos + 30}" y="{bottom - h - 6:.0f}" text-anchor="middle">{x.requests_per_s:.0f}</text>'
                    f'<text x="{xpos + 30}" y="{bottom + 18}" text-anchor="middle">{x.label}</text>')
    lat_peak = max(max(p.p99_ms for p in paced), 1.0)
    for i, p in enumerate(paced):
        xpos = 400 + i * 160
        for j, (v, colour) in enumerate(((p.p50_ms, "#73d216"), (p.p99_ms, "#cc0000"))):
            h = (bottom - top) * v / lat_peak
            bars.append(f'<rect x="{xpos + j * 55}" y="{bottom - h:.0f}" width="45" height="{h:.0f}" fill="{colour}"/>'
                        f'<text x="{xpos + j * 55 + 22}" y="{bottom - h - 6:.0f}" text-anchor="middle">{v:.0f}</text>')
        bars.append(f'<text x="{xpos + 50}" y="{bottom + 18}" text-anchor="middle">{p.label}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            'font-family="sans-serif" font-size="12">'
            '<text x="40" y="20" font-weight="bold">requests/s (allowlisted client, wrk)</text>'
            '<text x="400" y="20" font-weight="bold">paced visitor latency, ms (p50 green, p99 red)</text>'
            f'<line x1="30" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="black"/>'
            + "".join(bars) + "</svg>\n")


def inventory_ports(inventory: str, host: str) -> tuple[int, int, str]:
    out = subprocess.run(["ansible-inventory", "-i", inventory, "--host", host],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    v = json.loads(out)
    return int(v["lab_forward_https"]), int(v["ansible_port"]), str(v["ansible_ssh_private_key_file"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inventory", help="the running lab fleet's inventory (gives the ports and the key)")
    ap.add_argument("--host", default="results-tx")
    ap.add_argument("--https-port", type=int)
    ap.add_argument("--ssh-port", type=int)
    ap.add_argument("--key", default=os.path.join(os.environ.get("LAB_CACHE", ".lab/cache"), "ssh/id_ed25519"))
    ap.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    ap.add_argument("--paced-seconds", type=int, default=60,
                    help="length of each paced-visitor phase: its p99 is about the 2-3 slowest of "
                         "rate x 0.8 x seconds requests, so a short phase makes a noisy ratio "
                         "(30 s gave 2.08x and 0.94x on the same lab)")
    ap.add_argument("--rate", type=float, default=5.0,
                    help="the per-client rate of normal mode (the lab's results_website_rate)")
    ap.add_argument("--connections", type=int, default=10,
                    help="the per-client connection limit of normal mode (the flood uses it all)")
    ap.add_argument("--out", default=str(REPO / "artifacts/bench"))
    a = ap.parse_args()
    if a.inventory:
        https, ssh_port, key = inventory_ports(a.inventory, a.host)
    elif a.https_port and a.ssh_port:
        https, ssh_port, key = a.https_port, a.ssh_port, a.key
    else:
        ap.error("give --inventory, or --https-port and --ssh-port")
    host = Host(https, ssh_port, key)

    loads: list[Load] = []
    try:
        host.reference_mode_on()
        wrk(https, "warm-up", 3, ALLOWLISTED)
        loads.append(wrk(https, "no WAF", a.seconds, ALLOWLISTED))
    finally:
        host.reference_mode_off()
    loads.append(wrk(https, "WAF normal", a.seconds, ALLOWLISTED))
    host.mode("attack")
    try:
        loads.append(wrk(https, "WAF attack", a.seconds, ALLOWLISTED))
    finally:
        host.mode("normal")

    # The paced visitor sends at 80 % of the per-client rate, alone and then under
    # a flood from one other client offered as much as the connection limit allows.
    visitor_rate = a.rate * 0.8
    paced = [paced_client(https, "no flood", visitor_rate, a.paced_seconds)]
    result: dict[str, Load] = {}
    flood = threading.Thread(target=lambda: result.setdefault(
        "flood", wrk(https, "flood", a.paced_seconds + 4, FLOODER, connections=a.connections)))
    flood.start()
    time.sleep(2)
    paced.append(paced_client(https, "under flood", visitor_rate, a.paced_seconds))
    flood.join()
    fl = result["flood"]

    playbook: dict[str, float] = {}
    if a.inventory:
        playbook = {"on": playbook_seconds(a.inventory, "on"), "off": playbook_seconds(a.inventory, "off")}

    ref = loads[0]
    rows = ["| run | requests/s | vs no WAF | p50 ms | p99 ms | non-2xx |", "|---|---:|---:|---:|---:|---:|"]
    for x in loads:
        rows.append(f"| {x.label} | {x.requests_per_s:.1f} | {x.requests_per_s / ref.requests_per_s:.2f} | "
                    f"{x.p50_ms:.0f} | {x.p99_ms:.0f} | {x.non_2xx} |")
    flood_rate = fl.requests_per_s
    rows += ["", f"Flood from one client: {flood_rate:.0f} requests/s offered = {flood_rate / a.rate:.0f}x "
             f"the per-client rate ({a.rate:g}/s); {fl.non_2xx} of {fl.requests} answered non-2xx (429).", "",
             "| paced visitor | sent | 200 | success | p50 ms | p99 ms | not 200 |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for p in paced:
        why = ", ".join(f"{n}x {k}" for k, n in sorted(p.failures.items())) or "-"
        rows.append(f"| {p.label} | {p.sent} | {p.ok} | {p.success:.1%} | {p.p50_ms:.0f} | {p.p99_ms:.0f} | {why} |")
    waf_share = loads[1].requests_per_s / ref.requests_per_s
    p99_ratio = paced[1].p99_ms / paced[0].p99_ms if paced[0].p99_ms else float("inf")
    goals = [
        ("WAF keeps >= 60 % of the no-WAF throughput", f"{waf_share:.0%}", waf_share >= 0.6),
        ("flood offered >= 50x the per-client rate", f"{flood_rate / a.rate:.0f}x", flood_rate / a.rate >= 50),
        ("paced visitor >= 99 % success under the flood", f"{paced[1].success:.1%}", paced[1].success >= 0.99),
        ("paced visitor p99 under flood <= 2x unloaded", f"{p99_ratio:.2f}x", p99_ratio <= 2.0),
    ]
    if playbook:
        worst = max(playbook.values())
        goals.append(("attack-mode playbook on the web tier <= 30 s",
                      f"on {playbook['on']} s / off {playbook['off']} s", worst <= 30))
    rows += ["", "| goal | measured | met |", "|---|---|---|"]
    rows += [f"| {g} | {m} | {'yes' if ok else 'NO'} |" for g, m, ok in goals]
    table = "\n".join(rows) + "\n"

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "website.md").write_text(table)
    (out / "website.svg").write_text(svg_plot(loads, paced))
    (out / "website.json").write_text(json.dumps(
        {"loads": [asdict(x) for x in loads], "flood": asdict(fl), "paced": [asdict(p) for p in paced],
         "playbook_seconds": playbook, "goals": [{"goal": g, "measured": m, "met": ok} for g, m, ok in goals]},
        indent=2) + "\n")
    print(table, end="")
    print(f"(written to {out}/website.md, .svg, .json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
