"""Decide between KVM and TCG without assuming: KVM only when it really works.

On this project's machines /dev/kvm exists but is backed by kvm_pvm (a nested
paging hypervisor without vmx/svm); a stock Debian kernel hangs under it. So KVM is
used only if the CPU advertises vmx/svm, /dev/kvm opens read-write, the KVM module
is not kvm_pvm, and a short probe boot of the image's kernel reaches userspace
within a timeout. The verdict is cached per fleet. ``LAB_ACCEL=kvm|tcg`` overrides.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from lab.util import log

PROBE_TIMEOUT_S = 25
PROBE_MARKER = b"as init process"


def static_kvm_check() -> str | None:
    """Return why KVM cannot work here, or None if it might."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "no /proc/cpuinfo"
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    if not flags & {"vmx", "svm"}:
        return "CPU has no vmx/svm flag"
    if Path("/sys/module/kvm_pvm").exists():
        return "/dev/kvm is kvm_pvm (stock Debian kernels hang under it)"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm missing or not accessible"
    return None


def probe_boot(kernel: Path, initrd: Path) -> bool:
    """Boot the image's kernel with KVM for a few seconds; True if it reaches its init."""
    with tempfile.TemporaryDirectory(prefix="lab-kvm-probe-") as tmp:
        console = Path(tmp) / "console.log"
        cmd = ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "512", "-smp", "1",
               "-M", "pc", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
               "-kernel", str(kernel), "-initrd", str(initrd),
               "-append", "console=ttyS0 panic=1 rdinit=/bin/true",
               "-serial", f"file:{console}"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        ok = False
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if console.exists() and PROBE_MARKER in console.read_bytes():
                    ok = True
                    break
                time.sleep(0.5)
            if not ok and console.exists():
                ok = PROBE_MARKER in console.read_bytes()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        return ok


def choose_accel(kernel: Path, initrd: Path, cache_file: Path) -> str:
    forced = os.environ.get("LAB_ACCEL", "auto")
    if forced in ("kvm", "tcg"):
        return forced
    if cache_file.exists():
        return cache_file.read_text().strip()
    reason = static_kvm_check()
    if reason is None:
        accel = "kvm" if probe_boot(kernel, initrd) else "tcg"
        if accel == "tcg":
            reason = f"KVM probe boot did not reach init in {PROBE_TIMEOUT_S} s"
    else:
        accel = "tcg"
    if reason:
        log(f"using TCG (software emulation): {reason}")
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(accel + "\n")
    return accel
