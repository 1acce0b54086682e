"""Boot, wait for and stop the fleet's qemu VMs, and the loopback apt server.

Each VM boots the image's own kernel on a copy-on-write overlay of the base image,
with user-mode networking restricted to two forwards: the VM's SSH port on
127.0.0.1 and the guests' 10.0.2.100:80 -> the fleet's loopback apt repository.
Processes are tracked by pid file and stopped by pid, after checking that the pid
still belongs to this fleet.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.accel import choose_accel
from lab.config import MCAST_GROUP, OPERATOR, SERVICE_FORWARDS, LabError, LabPaths, private_mac
from lab.image import Image
from lab.inventory import HostSpec
from lab.util import Timer, log, need_tools, run

READY_TIMEOUT_S = int(os.environ.get("LAB_READY_TIMEOUT", "600"))
MEMORY_MB = 1024
# apparmor=1 security=apparmor: what GRUB hosts get from os_baseline's grub.d drop-in
# (CIS 1.3.1.2); direct kernel boot ignores GRUB, so the lab passes them here.
# transparent_hugepage=never: Debian's default (always, khugepaged defragmenting) froze
# a 1 GiB emulated VM for ~150 s during the lab tier's converge ("soft lockup - CPU#0
# stuck for 130s! [khugepaged]", journald killed by its watchdog, Ansible's become timing
# out): collapsing huge pages is cheap on hardware and very slow under TCG. PostgreSQL's
# own advice for database hosts is the same setting.
KERNEL_ARGS = ("root=/dev/vda rw console=ttyS0 systemd.firstboot=off net.ifnames=0 "
               "cryptomgr.notests quiet apparmor=1 security=apparmor transparent_hugepage=never")


def ssh_base(paths: LabPaths, port: int, connect_timeout: int = 10) -> list[str]:
    return ["ssh", "-i", str(paths.ssh_key), "-p", str(port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
            "-o", f"ConnectTimeout={connect_timeout}", f"{OPERATOR}@127.0.0.1"]


def _pid_of(pidfile: Path, must_contain: str) -> int | None:
    """The live pid recorded in pidfile, if its command line mentions must_contain."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    return pid if must_contain in cmdline else None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- apt repository server ---------------------------------------------------------

def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_repo_server(paths: LabPaths, repo: Path) -> None:
    pidfile = paths.fleet / "repo-http.pid"
    if _pid_of(pidfile, str(repo)) is not None:
        return
    stop_repo_server(paths)
    if _port_open(paths.repo_port):
        raise LabError(f"repository port {paths.repo_port} is taken (another fleet? set LAB_PORT_BASE)")
    logf = (paths.fleet / "repo-http.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(paths.repo_port), "--bind", "127.0.0.1",
         "--directory", str(repo)],
        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    pidfile.write_text(f"{proc.pid}\n")
    for _ in range(50):
        if proc.poll() is not None:
            raise LabError(f"repository server exited; see {paths.fleet / 'repo-http.log'}")
        if _port_open(paths.repo_port):
            return
        time.sleep(0.1)
    raise LabError(f"repository server did not listen on 127.0.0.1:{paths.repo_port}")


def stop_repo_server(paths: LabPaths) -> None:
    pidfile = paths.fleet / "repo-http.pid"
    pid = _pid_of(pidfile, "http.server")
    if pid is not None:
        _kill(pid)
    pidfile.unlink(missing_ok=True)


# -- VMs ----------------------------------------------------------------------------

def vm_files(paths: LabPaths, name: str) -> dict[str, Path]:
    d = paths.fleet / "vms"
    return {"overlay": d / f"{name}.qcow2", "pid": d / f"{name}.pid",
            "console": d / f"{name}.console.log"}


def vm_pid(paths: LabPaths, name: str) -> int | None:
    f = vm_files(paths, name)
    return _pid_of(f["pid"], str(f["overlay"]))


def start_vm(paths: LabPaths, image: Image, spec: HostSpec, accel: str, smp: int) -> None:
    f = vm_files(paths, spec.name)
    if vm_pid(paths, spec.name) is not None:
        return
    index = spec.port - paths.port_base
    for port in [spec.port] + [paths.port_base + off + index for off, _ in SERVICE_FORWARDS.values()]:
        if _port_open(port):
            raise LabError(f"port {port} for {spec.name} is taken (another fleet? set LAB_PORT_BASE)")
    f["overlay"].parent.mkdir(parents=True, exist_ok=True)
    f["overlay"].unlink(missing_ok=True)
    f["console"].unlink(missing_ok=True)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", image.qcow2, "-F", "qcow2", f["overlay"]],
        f"qemu-img create for {spec.name}")
    accel_args = (["-accel", "kvm", "-cpu", "host"] if accel == "kvm"
                  else ["-accel", "tcg,thread=multi", "-cpu", "max"])
    extra_args = os.environ.get("LAB_KERNEL_APPEND", "")
    forwards = "".join(f",hostfwd=tcp:127.0.0.1:{paths.port_base + offset + index}-:{guest}"
                       for offset, guest in SERVICE_FORWARDS.values())
    netdev = (f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{spec.port}-:22{forwards},"
              f"guestfwd=tcp:10.0.2.100:80-cmd:nc 127.0.0.1 {paths.repo_port}")
    private = f"socket,id=n1,mcast={MCAST_GROUP}:{paths.mcast_port},localaddr=127.0.0.1"
    cmd = ["qemu-system-x86_64", "-name", spec.name, *accel_args,
           "-smp", str(smp), "-m", str(MEMORY_MB), "-M", "pc", "-nodefaults", "-no-user-config",
           "-kernel", image.kernel, "-initrd", image.initrd,
           "-append", f"{KERNEL_ARGS} systemd.hostname={spec.name} {extra_args}".strip(),
           "-drive", f"id=d0,file={f['overlay']},if=none,format=qcow2,cache=unsafe",
           "-device", "virtio-blk-pci,drive=d0",
           "-netdev", netdev, "-device", "virtio-net-pci,netdev=n0",
           "-netdev", private, "-device", f"virtio-net-pci,netdev=n1,mac={private_mac(index)}",
           "-device", "virtio-rng-pci",
           # a USB controller, as on the counting centre's servers: USBGuard (os_baseline)
           # guards a real USB bus (usbguard-daemon exits where there is none)
           "-device", "qemu-xhci,id=usb0",
           "-serial", f"file:{f['console']}", "-display", "none", "-monitor", "none",
           "-daemonize", "-pidfile", f["pid"]]
    run(cmd, f"qemu for {spec.name}")


def stop_vm(paths: LabPaths, name: str) -> bool:
    f = vm_files(paths, name)
    pid = vm_pid(paths, name)
    if pid is not None:
        _kill(pid)
    for key in ("pid", "overlay"):
        f[key].unlink(missing_ok=True)
    return pid is not None


def wait_ready(paths: LabPaths, spec: HostSpec) -> str:
    """Wait until systemd finished booting; return its state (running/degraded)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if vm_pid(paths, spec.name) is None:
            raise LabError(f"{spec.name}: qemu exited during boot; see {vm_files(paths, spec.name)['console']}")
        res = subprocess.run(ssh_base(paths, spec.port) + ["systemctl", "is-system-running", "--wait"],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=READY_TIMEOUT_S)
        state = res.stdout.strip()
        if state in ("running", "degraded"):
            return state
        last = (res.stderr.strip() or state)[-200:]
        time.sleep(3)
    raise LabError(f"{spec.name}: not ready after {READY_TIMEOUT_S} s (last: {last}); "
                   f"see {vm_files(paths, spec.name)['console']}")


def guest(paths: LabPaths, spec: HostSpec, command: str, what: str) -> str:
    res = subprocess.run(ssh_base(paths, spec.port) + [command], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        tail = (res.stderr.strip() or res.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise LabError(f"{spec.name}: {what} failed: {tail[0]}")
    return res.stdout


def _prepare(paths: LabPaths, spec: HostSpec) -> str:
    timer = Timer()
    state = wait_ready(paths, spec)
    if state == "degraded":
        failed = guest(paths, spec, "systemctl --failed --no-legend --plain | cut -d' ' -f1 | xargs",
                       "listing failed units").strip()
        log(f"{spec.name}: booted degraded (failed units: {failed})")
    # A real host has a populated apt cache; give the VM one from the lab repository.
    guest(paths, spec, "sudo apt-get update -qq", "apt-get update from the lab repository")
    return f"{spec.name} ready in {timer} ({state})"


def vcpus_by_host(specs: list[HostSpec], default: int, spec_text: str) -> dict[str, int]:
    """Each VM's vCPU count: `default`, or what LAB_SMP_HOSTS ("count-db=2,results-tx=2") gives it.

    For a measurement that needs one host's service beside its helpers on a second
    CPU (e.g. the counting database and its log shipper) while the other VMs keep
    one each, so the fleet still fits the machine's cores.
    """
    names = {s.name for s in specs}
    vcpus = {s.name: default for s in specs}
    for item in filter(None, (part.strip() for part in spec_text.split(","))):
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit() or not 1 <= int(count) <= 8:
            raise LabError(f"LAB_SMP_HOSTS: {item!r} is not HOST=N with N from 1 to 8")
        if name not in names:
            raise LabError(f"LAB_SMP_HOSTS: {name!r} is not a host of this fleet ({', '.join(sorted(names))})")
        vcpus[name] = int(count)
    return vcpus


def up(paths: LabPaths, image: Image, repo: Path, specs: list[HostSpec]) -> dict[str, object]:
    need_tools("qemu-system-x86_64", "qemu-img", "nc", "ssh")
    paths.fleet.mkdir(parents=True, exist_ok=True)
    accel = choose_accel(image.kernel, image.initrd, paths.fleet / "accel")
    smp = int(os.environ.get("LAB_SMP", "2" if len(specs) == 1 else "1"))
    vcpus = vcpus_by_host(specs, smp, os.environ.get("LAB_SMP_HOSTS", ""))
    start_repo_server(paths, repo)
    timer = Timer()
    for spec in specs:
        start_vm(paths, image, spec, accel, vcpus[spec.name])
    log(f"booting {len(specs)} VM(s) ({accel}): "
        + ", ".join(f"{s.name} ({vcpus[s.name]} vCPU)" for s in specs))
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        futures = [pool.submit(_prepare, paths, s) for s in specs]
        errors = []
        for fut in futures:
            try:
                log(fut.result())
            except (LabError, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))
    if errors:
        raise LabError("; ".join(errors))
    state = {"image": image.recipe_hash, "repo": repo.name, "accel": accel, "smp": smp,
             "user": OPERATOR, "ssh_key": str(paths.ssh_key),
             "port_base": paths.port_base, "repo_port": paths.repo_port,
             "hosts": [{"name": s.name, "port": s.port, "vcpus": vcpus[s.name]} for s in specs]}
    (paths.fleet / "fleet.json").write_text(json.dumps(state, indent=2) + "\n")
    log(f"fleet up in {timer}")
    return state


def fleet_state(paths: LabPaths) -> dict[str, object] | None:
    try:
        return json.loads((paths.fleet / "fleet.json").read_text())
    except (OSError, ValueError):
        return None


def down(paths: LabPaths) -> list[str]:
    stopped = []
    vms = paths.fleet / "vms"
    if vms.is_dir():
        for pidfile in sorted(vms.glob("*.pid")):
            name = pidfile.stem
            if stop_vm(paths, name):
                stopped.append(name)
        for overlay in vms.glob("*.qcow2"):
            overlay.unlink(missing_ok=True)
    stop_repo_server(paths)
    (paths.fleet / "fleet.json").unlink(missing_ok=True)
    return stopped
