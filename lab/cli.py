"""``python -m lab``: build the image and repository, run the fleet."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lab import image as image_mod
from lab import repo as repo_mod
from lab import vm
from lab.config import DEFAULT_INVENTORY, LabError, LabPaths, paths_from_env
from lab.inventory import HostSpec, hosts_from_inventory, hosts_from_names, write_inventory
from lab.pki import ensure_pki


def _specs(args: argparse.Namespace, paths: LabPaths) -> tuple[list[HostSpec], Path | None]:
    if args.hosts:
        return hosts_from_names([h for h in args.hosts.split(",") if h], paths.port_base), None
    inv = Path(args.inventory).resolve()
    return hosts_from_inventory(inv, paths.port_base), inv


def cmd_build(args: argparse.Namespace, paths: LabPaths) -> int:
    img = image_mod.build_image(paths, force=args.force)
    print(img.dir)
    return 0


def cmd_repo(args: argparse.Namespace, paths: LabPaths) -> int:
    img = image_mod.build_image(paths)
    print(repo_mod.build_repo(paths, img, force=args.force))
    return 0


def cmd_up(args: argparse.Namespace, paths: LabPaths) -> int:
    specs, source = _specs(args, paths)
    img = image_mod.build_image(paths)
    repo = repo_mod.build_repo(paths, img)
    ensure_pki(paths, specs)
    vm.up(paths, img, repo, specs)
    inv = write_inventory(paths, specs, source)
    print(inv)
    return 0


def cmd_down(args: argparse.Namespace, paths: LabPaths) -> int:
    stopped = vm.down(paths)
    print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    return 0


def cmd_status(args: argparse.Namespace, paths: LabPaths) -> int:
    state = vm.fleet_state(paths)
    print(f"fleet dir: {paths.fleet}\ncache dir: {paths.cache}")
    if state is None:
        print("no fleet is up")
        return 3
    print(f"accel {state['accel']}, image {state['image']}, repo {state['repo']} "
          f"on 127.0.0.1:{state['repo_port']}")
    all_up = True
    for host in state["hosts"]:  # type: ignore[attr-defined]
        pid = vm.vm_pid(paths, host["name"])
        all_up &= pid is not None
        state = f"up (pid {pid})" if pid else "DOWN"
        print(f"  {host['name']:<16} 127.0.0.1:{host['port']:<6} {state}")
    print(f"inventory: {paths.inventory_dir}")
    return 0 if all_up else 3


def cmd_ssh(args: argparse.Namespace, paths: LabPaths) -> int:
    state = vm.fleet_state(paths)
    hosts = {h["name"]: h["port"] for h in (state or {}).get("hosts", [])}  # type: ignore[union-attr]
    if args.name not in hosts:
        raise LabError(f"no running host {args.name!r} in {paths.fleet} (have: {', '.join(hosts) or 'none'})")
    cmd = vm.ssh_base(paths, hosts[args.name])
    if args.command:
        cmd.append(" ".join(args.command))
    else:
        cmd.insert(1, "-t")
    os.execvp(cmd[0], cmd)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m lab",
        description="Lab of real Debian 12 hosts (qemu VMs), built offline from Debian packages.",
        epilog="Environment: LAB_DIR (fleet state, default .lab/fleet), LAB_CACHE (images, "
               "repositories, key; default .lab/cache), LAB_PORT_BASE (default 2220), "
               "LAB_ACCEL (auto|kvm|tcg), LAB_SMP, LAB_SMP_HOSTS (e.g. count-db=2), "
               "LAB_KERNEL_APPEND, LAB_READY_TIMEOUT.")
    p.add_argument("--fleet", help="fleet state directory (overrides LAB_DIR)")
    p.add_argument("--cache", help="cache directory (overrides LAB_CACHE)")
    p.add_argument("--port-base", type=int, help="port base (overrides LAB_PORT_BASE)")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or reuse) the Debian 12 base image")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    b.set_defaults(handler=cmd_build)
    r = sub.add_parser("repo", help="build (or reuse) the local apt repository")
    r.add_argument("--force", action="store_true", help="rebuild even if cached")
    r.set_defaults(handler=cmd_repo)
    u = sub.add_parser("up", help="boot the fleet and write its Ansible inventory")
    u.add_argument("--inventory", default=str(DEFAULT_INVENTORY),
                   help="inventory whose hosts to boot (default inventories/lab/hosts.yml)")
    u.add_argument("--hosts", help="comma-separated VM names instead of an inventory")
    u.set_defaults(handler=cmd_up)
    sub.add_parser("down", help="stop every VM of the fleet").set_defaults(handler=cmd_down)
    sub.add_parser("status", help="show the fleet").set_defaults(handler=cmd_status)
    s = sub.add_parser("ssh", help="ssh into a VM as the lab operator")
    s.add_argument("name")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s.set_defaults(handler=cmd_ssh)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        paths = paths_from_env(args.fleet, args.cache, args.port_base)
        return int(args.handler(args, paths))
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
