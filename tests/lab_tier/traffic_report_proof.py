"""Prove that a person on the monitoring network can read the live traffic report
(roles/traffic_report), and that it is live: headless Chromium opens the report
through a SOCKS tunnel into the monitoring host (so the browser stands where the
watch room's browsers stand), requests are then sent to the public results website,
and the page, without a reload, counts them within a deadline.

    python -m tests.lab_tier.traffic_report_proof --fleet LAB_DIR \
        [--site results-tx] [--monitor count-app] [--requests 25] [--deadline 90] \
        [--screenshot artifacts/lab/traffic-report.png]

Path of a request: the controller -> the forwarded HTTPS port -> nginx on the web
host (access log) -> log_shipper (RELP/TLS) -> log_collector's live feed on the
monitoring host -> goaccess -> its WebSocket -> nginx on the monitoring host -> the
page. The page's own HTML is written once when goaccess starts: a count that grows
while the page stays loaded can only have come over the WebSocket. The proof reads
the rendered page (Chromium's --dump-dom): "Total Requests", the WebSocket status
dot, and the Not-Found panel listing the proof's URL; then it saves a screenshot.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from lab.config import paths_from_env
from lab.vm import fleet_state, ssh_base
from tests.infra.web_client import Site


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hostvars(fleet: Path, name: str) -> dict[str, Any]:
    """A host's literal variables from the fleet's written inventory."""
    def walk(group: dict[str, Any]) -> dict[str, Any] | None:
        if name in (group.get("hosts") or {}):
            found = group["hosts"][name]
            if found:
                return dict(found)
        for sub in (group.get("children") or {}).values():
            got = walk(sub or {})
            if got:
                return got
        return None
    inventory = yaml.safe_load((fleet / "inventory" / "hosts.yml").read_text())
    found = walk(inventory["all"])
    if found is None:
        raise SystemExit(f"traffic-report proof: no host {name!r} in {fleet}/inventory/hosts.yml")
    return found


def _chromium(proxy_port: int, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("traffic-report proof: chromium is not installed (scripts/bootstrap.sh installs it)")
    argv = [browser, "--headless=new", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--proxy-server=socks5://127.0.0.1:{proxy_port}", "--virtual-time-budget=8000",
            "--window-size=1400,1700", *extra, url]
    if os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _read_page(proxy_port: int, url: str) -> tuple[int | None, bool, str]:
    """(Total Requests shown, WebSocket connected, the rendered DOM)."""
    dom = _chromium(proxy_port, url, "--dump-dom").stdout
    total = re.search(r'id="total_requests"[^>]*>\s*([\d,.]+)\s*<', dom)
    connected = re.search(r'class="[^"]*nav-ws-status[^"]*\bconnected\b', dom) is not None
    return (int(re.sub(r"\D", "", total.group(1))) if total else None), connected, dom


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab_tier.traffic_report_proof", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fleet", required=True, help="the lab fleet's state directory (LAB_DIR)")
    p.add_argument("--site", default="results-tx", help="a results_web host")
    p.add_argument("--monitor", default="count-app", help="the monitoring host that runs traffic_report")
    p.add_argument("--requests", type=int, default=25)
    p.add_argument("--deadline", type=float, default=90.0, help="seconds for the page to count them")
    p.add_argument("--screenshot", default="artifacts/lab/traffic-report.png")
    args = p.parse_args(argv)

    fleet = Path(args.fleet).resolve()
    monitor = _hostvars(fleet, args.monitor)
    site_vars = _hostvars(fleet, args.site)
    address = monitor.get("lab_private_address") or "10.20.0.12"
    url = f"http://{address}:{monitor.get('traffic_report_port', 7880)}/"
    paths = paths_from_env(str(fleet), None, None)
    state: dict[str, Any] = fleet_state(paths) or {}
    ports = {h["name"]: h["port"] for h in state.get("hosts", [])}
    if args.monitor not in ports:
        print(f"traffic-report proof: {args.monitor} is not running in {fleet}")
        return 1

    proxy_port = _free_port()
    base = ssh_base(paths, ports[args.monitor])
    tunnel = subprocess.Popen([*base[:-1], "-N", "-D", f"127.0.0.1:{proxy_port}", "-o", "ExitOnForwardFailure=yes",
                               base[-1]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", proxy_port), timeout=1).close()
                break
            except OSError:
                if tunnel.poll() is not None or time.monotonic() > deadline:
                    print(f"traffic-report proof: FAIL, no SOCKS tunnel to {args.monitor}")
                    return 1
                time.sleep(0.3)

        before, connected, _ = _read_page(proxy_port, url)
        if before is None or not connected:
            print(f"traffic-report proof: FAIL, the page at {url} shows no total ({before}) "
                  f"or its WebSocket is not connected ({connected})")
            return 1
        print(f"traffic-report proof: page open through {args.monitor}, Total Requests {before}, WebSocket connected",
              flush=True)

        site = Site(port=int(site_vars["lab_forward_https"]), http_port=int(site_vars.get("lab_forward_http", 0)),
                    ca_file=str(fleet / "pki" / "ca.crt"), server_name=args.site)
        marker = f"/traffic-report-proof-{uuid.uuid4().hex[:12]}.html"
        start = time.monotonic()
        statuses = {site.request(marker, client="192.0.2.77").status for _ in range(args.requests)}
        print(f"traffic-report proof: {args.requests} requests of {marker} sent to {args.site} (status {statuses})",
              flush=True)

        shown, dom = before, ""
        while time.monotonic() - start < args.deadline:
            got, connected, dom = _read_page(proxy_port, url)
            if got is not None:
                shown = got
            if got is not None and got >= before + args.requests and marker in dom:
                break
            time.sleep(2)
        elapsed = time.monotonic() - start
        if shown < before + args.requests or marker not in dom:
            print(f"traffic-report proof: FAIL, after {elapsed:.0f} s the page shows {shown} requests "
                  f"(want >= {before + args.requests}), proof URL listed: {marker in dom}")
            return 1
        print(f"traffic-report proof: the page counted them live: Total Requests {before} -> {shown} "
              f"{elapsed:.0f} s after the first request (deadline {args.deadline:.0f} s), {marker} listed", flush=True)

        shot = Path(args.screenshot).resolve()
        shot.parent.mkdir(parents=True, exist_ok=True)
        res = _chromium(proxy_port, url, f"--screenshot={shot}")
        if res.returncode != 0 or not shot.exists() or shot.stat().st_size < 10_000:
            print(f"traffic-report proof: FAIL, no screenshot ({res.stderr.strip()[-300:]})")
            return 1
        print(f"traffic-report proof: screenshot {shot} ({shot.stat().st_size} bytes)")
        return 0
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
