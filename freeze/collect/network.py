"""Listening sockets, interfaces, addresses, routes and the nftables ruleset.

Standard library only. Sockets come from /proc/net/{tcp,tcp6,udp,udp6} directly
(no dependence on the output format of `ss`/`netstat`); interfaces, addresses and
routes from `ip -j` (JSON); the firewall from `nft -j list ruleset` when nft is
installed and permitted, recorded as "unavailable: reason" otherwise.
Values that change by themselves (address lifetimes, counters, rule handles)
are left out so an untouched system verifies clean.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
import socket
import struct
from typing import Any

from freeze.collect.common import Collected, first_line, not_live, run

_TCP_LISTEN = "0A"
_UDP_UNCONNECTED = "07"


def _addr(hexaddr: str) -> str:
    ip_hex, port_hex = hexaddr.split(":")
    raw = bytes.fromhex(ip_hex)
    # /proc prints the address as host-order 32-bit words
    words = struct.unpack("<" + "I" * (len(raw) // 4), raw)
    packed = struct.pack(">" + "I" * len(words), *words)
    ip = ipaddress.ip_address(packed)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    port = int(port_hex, 16)
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _socket_programs(inodes: set[str]) -> dict[str, set[str]]:
    """socket inode -> executables of the processes holding it (from /proc/PID/fd)."""
    found: dict[str, set[str]] = {}
    if not inodes:
        return found
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone, or not ours to read
        exe = None
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                if exe is None:
                    try:
                        exe = os.readlink(f"/proc/{pid}/exe")
                    except OSError:
                        exe = "?"
                found.setdefault(link[8:-1], set()).add(exe)
    return found


def listening_sockets(proc_net: str = "/proc/net") -> dict[str, dict[str, Any]]:
    """Listening TCP and unconnected UDP sockets: address -> owner uid and program.

    The program (the executable of the process holding the socket) makes a
    swapped daemon visible even when it keeps the port and the user.
    """
    out: dict[str, dict[str, Any]] = {}
    inode_of: dict[str, str] = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"{proc_net}/{proto}", encoding="ascii") as fh:
                lines = fh.read().splitlines()[1:]
        except FileNotFoundError:
            continue  # e.g. IPv6 disabled
        for line in lines:
            f = line.split()
            if len(f) < 8:
                continue
            local, remote, state, uid, inode = f[1], f[2], f[3], f[7], f[9]
            if proto.startswith("tcp"):
                if state != _TCP_LISTEN:
                    continue
            elif state != _UDP_UNCONNECTED or not remote.split(":")[1] == "0000":
                continue
            key = f"{proto.rstrip('6')}:{_addr(local)}"
            out[key] = {"uid": int(uid)}
            inode_of[key] = inode
    programs = _socket_programs(set(inode_of.values()) - {"0"})
    for key, inode in inode_of.items():
        if inode in programs:
            out[key]["programs"] = sorted(programs[inode])
    return out


def _ip_json(args: list[str]) -> Any:
    rc, stdout, stderr = run(["ip", "-j"] + args)
    if rc != 0:
        raise RuntimeError(first_line(stderr) or f"exit {rc}")
    return json.loads(stdout or "[]")


def _interfaces_and_addresses(out: Collected) -> None:
    links = _ip_json(["address", "show"])
    ifaces: dict[str, dict[str, Any]] = {}
    addrs: dict[str, dict[str, Any]] = {}
    for link in links:
        name = link.get("ifname", "?")
        ifaces[name] = {
            "mtu": link.get("mtu"),
            "flags": sorted(link.get("flags", [])),
            "link_type": link.get("link_type"),
            "address": link.get("address"),
            "master": link.get("master"),
        }
        for a in link.get("addr_info", []):
            key = f"{name}:{a.get('local')}/{a.get('prefixlen')}"
            addrs[key] = {"family": a.get("family"), "scope": a.get("scope"),
                          "dynamic": bool(a.get("dynamic", False))}
    out.sections["interfaces"] = ifaces
    out.sections["addresses"] = addrs


def _routes(out: Collected) -> None:
    routes: dict[str, dict[str, Any]] = {}
    for family in ("-4", "-6"):
        rc, stdout, stderr = run(["ip", "-j", family, "route", "show", "table", "all"])
        if rc != 0:
            continue
        for r in json.loads(stdout or "[]"):
            if r.get("table") == "local" and r.get("type") in ("local", "broadcast"):
                pass  # derived from addresses, but keep: they are what the kernel routes
            key = "{fam}:{table}:{type}:{dst}:{dev}:{gw}".format(
                fam=family[1], table=r.get("table", "main"), type=r.get("type", "unicast"),
                dst=r.get("dst"), dev=r.get("dev"), gw=r.get("gateway", ""))
            routes[key] = {k: r.get(k) for k in ("protocol", "scope", "prefsrc", "metric")
                           if r.get(k) is not None}
    out.sections["routes"] = routes


def _strip_handles(value: Any) -> Any:
    if isinstance(value, dict):
        # handles are renumbered on reload; packet/byte counts change by themselves
        return {k: _strip_handles(v) for k, v in value.items()
                if k not in ("handle", "packets", "bytes")}
    if isinstance(value, list):
        return [_strip_handles(v) for v in value]
    return value


def _nftables(out: Collected) -> None:
    if not shutil.which("nft", path="/usr/sbin:/sbin:/usr/bin:/bin"):
        out.unavailable["nftables"] = "nft not installed"
        return
    rc, stdout, stderr = run(["nft", "-j", "list", "ruleset"])
    if rc != 0:
        out.unavailable["nftables"] = f"nft list ruleset failed: {first_line(stderr) or rc}"
        return
    try:
        doc = json.loads(stdout or '{"nftables": []}')
    except ValueError:
        out.unavailable["nftables"] = "nft -j list ruleset: output is not JSON"
        return
    chains: dict[str, list[Any]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for item in doc.get("nftables", []):
        if "table" in item:
            t = item["table"]
            meta.setdefault(f"{t.get('family')} {t.get('name')}", {"object": "table"})
        elif "chain" in item:
            c = item["chain"]
            key = f"{c.get('family')} {c.get('table')} {c.get('name')}"
            chains.setdefault(key, [])
            meta[key] = {"object": "chain",
                         **{k: c.get(k) for k in ("type", "hook", "prio", "policy", "dev")
                            if k in c}}
        elif "rule" in item:
            r = item["rule"]
            key = f"{r.get('family')} {r.get('table')} {r.get('chain')}"
            chains.setdefault(key, []).append(_strip_handles(r.get("expr")))
        elif "set" in item or "map" in item:
            s = item.get("set") or item.get("map")
            key = f"{s.get('family')} {s.get('table')} @{s.get('name')}"
            meta[key] = {"object": "set", "sha256": hashlib.sha256(json.dumps(
                _strip_handles(s), sort_keys=True).encode()).hexdigest()}
    entries: dict[str, dict[str, Any]] = {}
    for key in set(chains) | set(meta):
        entry = dict(meta.get(key, {}))
        if key in chains:
            entry["rules"] = len(chains[key])
            entry["rules_sha256"] = hashlib.sha256(
                json.dumps(chains[key], sort_keys=True).encode()).hexdigest()
        entries[key] = entry
    out.sections["nftables"] = entries


def collect(spec: dict[str, Any]) -> Collected:
    opts = spec.get("network") or {}
    out = Collected()
    if not opts.get("enabled", True):
        return out
    root = spec.get("root", "/")
    if root not in ("", "/"):
        # the live network stack is the host's, not the image's: say so, never leave it out silently
        parts = {"sockets": ("sockets",), "addresses": ("interfaces", "addresses"),
                 "routes": ("routes",), "nftables": ("nftables",)}
        for option, sections in parts.items():
            if opts.get(option, True):
                for section in sections:
                    out.unavailable[section] = not_live(root, "network stack")
        return out
    if opts.get("sockets", True):
        out.sections["sockets"] = listening_sockets()
    if shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin"):
        if opts.get("addresses", True):
            try:
                _interfaces_and_addresses(out)
            except (RuntimeError, ValueError) as exc:
                out.unavailable["addresses"] = f"ip -j address: {exc}"
        if opts.get("routes", True):
            try:
                _routes(out)
            except ValueError as exc:
                out.unavailable["routes"] = f"ip -j route: {exc}"
    else:
        for part in ("addresses", "routes"):
            if opts.get(part, True):
                out.unavailable[part] = "ip (iproute2) not installed"
    if opts.get("nftables", True):
        _nftables(out)
    out.facts["hostname_uts"] = socket.gethostname()
    return out
