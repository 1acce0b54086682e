"""Prove that a person on the monitoring network can read the live traffic report
(roles/traffic_report), and that it is live: headless Chromium opens the report
through a SOCKS proxy whose connections start on the monitoring host (so the browser
stands where the watch room's browsers stand), requests are then sent to the public
results website, and the page, without a reload, counts them within a deadline.

The hardened sshd refuses TCP forwarding (ssh -D), so the proxy is a small SOCKS5
server here whose every connection is one SSH session running bash on the
monitoring host, relaying through /dev/tcp (a login an operator could make too).

    python -m tests.lab_tier.traffic_report_proof --fleet LAB_DIR \
        [--site results-tx] [--monitor count-app] [--requests 25] [--deadline 90] \
        [--screenshot artifacts/lab/traffic-report.png]

Path of a request: the controller -> the forwarded HTTPS port -> nginx on the web
host (access log) -> log_shipper (RELP/TLS) -> log_collector's live feed on the
monitoring host -> goaccess -> its WebSocket -> nginx on the monitoring host -> the
page. The page's own HTML is written once when goaccess starts; the proof keeps ONE
page open (Chromium driven over the DevTools protocol) and reads what it shows:
"Total Requests", the WebSocket status dot, the Not-Found panel listing the proof's
URL. A count that grows while the page stays open can only have come over the
WebSocket. Then it saves a screenshot of that page.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from lab.config import paths_from_env
from lab.vm import fleet_state, ssh_base
from tests.infra.web_client import Site


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


_TARGET = re.compile(r"^[A-Za-z0-9.:-]+$")


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    return data


class SshSocks:
    """A SOCKS5 server (CONNECT, no authentication) on a loopback port of this
    machine; each connection is relayed by `bash` on the monitoring host."""

    def __init__(self, ssh: list[str]) -> None:
        self.ssh = ssh
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = int(self.server.getsockname()[1])
        self.procs: list[subprocess.Popen[bytes]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                _, methods = _recv_exact(conn, 2)
                _recv_exact(conn, methods)
                conn.sendall(b"\x05\x00")
                _, command, _, kind = _recv_exact(conn, 4)
                if kind == 1:
                    host = socket.inet_ntoa(_recv_exact(conn, 4))
                elif kind == 3:
                    host = _recv_exact(conn, _recv_exact(conn, 1)[0]).decode("ascii", "replace")
                else:
                    host = socket.inet_ntop(socket.AF_INET6, _recv_exact(conn, 16))
                port = struct.unpack(">H", _recv_exact(conn, 2))[0]
            except (ConnectionError, OSError):
                return
            if command != 1 or not _TARGET.match(host):  # CONNECT only; the name goes into a shell
                conn.sendall(b"\x05\x07\x00\x01" + bytes(6))
                return
            relay = f"exec 3<>/dev/tcp/{host}/{port} || exit 1; cat <&3 & cat >&3; kill $! 2>/dev/null"
            proc = subprocess.Popen([*self.ssh, f"bash -c {shlex.quote(relay)}"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.procs.append(proc)
            conn.sendall(b"\x05\x00\x00\x01" + bytes(6))
            assert proc.stdin is not None and proc.stdout is not None
            stdin, stdout = proc.stdin, proc.stdout

            def upstream() -> None:
                try:
                    while chunk := conn.recv(65536):
                        stdin.write(chunk)
                        stdin.flush()
                except (OSError, ValueError):
                    pass
                finally:
                    try:
                        stdin.close()
                    except OSError:
                        pass

            threading.Thread(target=upstream, daemon=True).start()
            try:
                while chunk := os.read(stdout.fileno(), 65536):
                    conn.sendall(chunk)
            except OSError:
                pass
            proc.terminate()

    def close(self) -> None:
        self.server.close()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe
    (--remote-debugging-pipe: JSON messages separated by NUL on fds 3 and 4), so
    one page stays open while the proof watches it; no WebSocket client needed."""

    def __init__(self, proxy_port: int) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            raise SystemExit("traffic-report proof: chromium is not installed (scripts/bootstrap.sh installs it)")
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()
        argv = [binary, "--headless=new", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                "--remote-debugging-pipe", f"--proxy-server=socks5://127.0.0.1:{proxy_port}",
                "--window-size=1400,1700", "about:blank"]
        if os.geteuid() == 0:
            argv.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox

        def pipes_as_3_and_4() -> None:
            # copies first: either end may itself be fd 3 or 4; dup2 makes 3 and 4
            # inheritable, the rest of this process' descriptors are close-on-exec
            reading, writing = os.dup(to_browser), os.dup(from_browser)
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        self.proc = subprocess.Popen(argv, close_fds=False, preexec_fn=pipes_as_3_and_4,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise SystemExit("traffic-report proof: Chromium exited")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:  # events (no id) are not needed
                if "error" in reply:
                    raise SystemExit(f"traffic-report proof: {method}: {reply['error']}")
                return dict(reply.get("result") or {})

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, self.session, **params)

    def evaluate(self, expression: str) -> Any:
        return self.page("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        try:
            os.write(self._to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


# what the page shows: the "Total Requests" figure, the WebSocket status dot, and
# whether a URL is listed (goaccess renders its panels from the pushed data)
_STATE = ("JSON.stringify({total: (document.getElementById('total_requests') || {}).textContent || null,"
          " connected: !!document.querySelector('.nav-ws-status.connected'),"
          " text: document.body ? document.body.innerText : ''})")


def _state(browser: Browser) -> tuple[int | None, bool, str]:
    state = json.loads(browser.evaluate(_STATE) or "{}")
    digits = re.sub(r"\D", "", state.get("total") or "")
    return (int(digits) if digits else None), bool(state.get("connected")), str(state.get("text") or "")


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

    proxy = SshSocks(ssh_base(paths, ports[args.monitor]))
    browser = Browser(proxy.port)
    try:
        browser.page("Page.enable")
        browser.page("Page.navigate", url=url)
        start = time.monotonic()
        before, connected = None, False
        while time.monotonic() - start < 60:
            before, connected, _ = _state(browser)
            if before is not None and connected:
                break
            time.sleep(1)
        if before is None or not connected:
            print(f"traffic-report proof: FAIL, the page at {url} shows no total ({before}) "
                  f"or its WebSocket is not connected ({connected}) after 60 s")
            return 1
        print(f"traffic-report proof: page open through {args.monitor} after {time.monotonic() - start:.0f} s, "
              f"Total Requests {before}, WebSocket connected", flush=True)

        site = Site(port=int(site_vars["lab_forward_https"]), http_port=int(site_vars.get("lab_forward_http", 0)),
                    ca_file=str(fleet / "pki" / "ca.crt"), server_name=args.site)
        marker = f"/traffic-report-proof-{uuid.uuid4().hex[:12]}.html"
        start = time.monotonic()
        statuses = {site.request(marker, client="192.0.2.77").status for _ in range(args.requests)}
        print(f"traffic-report proof: {args.requests} requests of {marker} sent to {args.site} (status {statuses})",
              flush=True)

        # the same page, never reloaded: what it shows now came over the WebSocket
        shown, text = before, ""
        while time.monotonic() - start < args.deadline:
            got, connected, text = _state(browser)
            shown = got if got is not None else shown
            if shown >= before + args.requests and marker in text:
                break
            time.sleep(2)
        elapsed = time.monotonic() - start
        if shown < before + args.requests or marker not in text:
            print(f"traffic-report proof: FAIL, after {elapsed:.0f} s the open page shows {shown} requests "
                  f"(want >= {before + args.requests}), proof URL listed: {marker in text}")
            return 1
        print(f"traffic-report proof: the open page counted them live: Total Requests {before} -> {shown} "
              f"{elapsed:.0f} s after the first request (deadline {args.deadline:.0f} s), {marker} listed", flush=True)

        shot = Path(args.screenshot).resolve()
        shot.parent.mkdir(parents=True, exist_ok=True)
        shot.write_bytes(base64.b64decode(browser.page("Page.captureScreenshot", format="png")["data"]))
        if shot.stat().st_size < 10_000:
            print(f"traffic-report proof: FAIL, the screenshot {shot} is nearly empty")
            return 1
        print(f"traffic-report proof: screenshot {shot} ({shot.stat().st_size} bytes)")
        return 0
    finally:
        browser.close()
        proxy.close()


if __name__ == "__main__":
    sys.exit(main())
