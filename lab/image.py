"""The lab's Debian 12 base image: mmdebstrap -> ext4 -> qcow2, cached by recipe hash.

The image directory ``<cache>/images/<hash>/`` holds ``base.qcow2`` (guests boot
copy-on-write overlays of it), the image's own ``vmlinuz``/``initrd.img`` (direct
kernel boot, so ``modprobe`` finds matching modules) and ``dpkg-status`` (the
installed-package database, from which the apt repository is resolved).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.config import LAB_SRC, OPERATOR, LabError, LabPaths
from lab.util import Timer, locked, log, need_tools, prune_stale, read_list, run, sha256_parts

IMAGE_PACKAGES = LAB_SRC / "image-packages.txt"
CUSTOMIZE = LAB_SRC / "image-customize.sh"
SUITE = "bookworm"
DISK_SIZE = "4G"


@dataclass(frozen=True)
class Image:
    dir: Path

    @property
    def qcow2(self) -> Path:
        return self.dir / "base.qcow2"

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initrd.img"

    @property
    def dpkg_status(self) -> Path:
        return self.dir / "dpkg-status"

    @property
    def recipe_hash(self) -> str:
        return self.dir.name


def debian_sources() -> Path:
    """The host's Debian archive definition; guests' packages come from the same mirror."""
    override = os.environ.get("LAB_APT_SOURCES")
    candidates = [Path(override)] if override else [
        Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    for path in candidates:
        if path.is_file() and path.stat().st_size > 0:
            return path
    raise LabError("no Debian apt sources found on the host (set LAB_APT_SOURCES)")


def ensure_credentials(paths: LabPaths) -> None:
    """The operator's SSH key and console password: generated once, kept in the cache."""
    key = paths.ssh_key
    if not key.exists():
        need_tools("ssh-keygen")
        key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(key.parent, 0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-operator", "-f", key],
            "ssh-keygen")
    password = key.parent / "operator-password"
    if not password.exists():
        fd = os.open(password, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(18) + "\n")


def operator_password(paths: LabPaths) -> str:
    return (paths.ssh_key.parent / "operator-password").read_text().strip()


def recipe_hash(paths: LabPaths) -> str:
    ensure_credentials(paths)
    return sha256_parts(
        "image-v1", SUITE, DISK_SIZE, OPERATOR,
        "\n".join(read_list(IMAGE_PACKAGES)),
        CUSTOMIZE.read_bytes(),
        debian_sources().read_bytes(),
        paths.ssh_key.with_suffix(".pub").read_bytes(),
        (paths.ssh_key.parent / "operator-password").read_bytes(),
    )


def current_image(paths: LabPaths) -> Image | None:
    image = Image(paths.images / recipe_hash(paths))
    return image if (image.dir / "complete").exists() else None


def build_image(paths: LabPaths, force: bool = False) -> Image:
    """Return the cached image for the current recipe, building it if needed (~2-3 min)."""
    digest = recipe_hash(paths)
    with locked(paths.images / ".lock"):
        image = Image(paths.images / digest)
        if (image.dir / "complete").exists() and not force:
            os.utime(image.dir)  # recently used: prune_stale keeps it
            return image
        if os.geteuid() != 0:
            raise LabError("building the image needs root (mmdebstrap in root mode, mkfs -d)")
        need_tools("mmdebstrap", "mkfs.ext4", "qemu-img")
        timer = Timer()
        work = paths.images / f"tmp-{digest}"
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(image.dir, ignore_errors=True)
        rootfs = work / "rootfs"
        logf = work / "build.log"
        work.mkdir(parents=True)
        log(f"building Debian 12 image {digest} (about 2-3 minutes; log {logf})")
        hook = (f'{CUSTOMIZE} "$1" {OPERATOR} {paths.ssh_key.with_suffix(".pub")} '
                f'{paths.ssh_key.parent / "operator-password"}')
        run(["mmdebstrap", "--variant=important", "--mode=root",
             "--include=" + ",".join(read_list(IMAGE_PACKAGES)),
             "--customize-hook=" + hook,
             SUITE, rootfs, debian_sources()], "mmdebstrap", logf)
        boot = rootfs / "boot"
        kernels = sorted(boot.glob("vmlinuz-*"))
        initrds = sorted(boot.glob("initrd.img-*"))
        if len(kernels) != 1 or len(initrds) != 1:
            raise LabError(f"expected one kernel and one initrd in the image, found {kernels} {initrds}")
        shutil.copy2(kernels[0], work / "vmlinuz")
        shutil.copy2(initrds[0], work / "initrd.img")
        shutil.copy2(rootfs / "var/lib/dpkg/status", work / "dpkg-status")
        versions = subprocess.run(
            ["dpkg-query", f"--admindir={rootfs}/var/lib/dpkg", "-W", "-f", "${Package}\t${Version}\n"],
            capture_output=True, text=True, check=True).stdout
        (work / "packages.tsv").write_text(versions)
        raw = work / "base.raw"
        run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", rootfs, raw, DISK_SIZE], "mkfs.ext4", logf)
        run(["qemu-img", "convert", "-O", "qcow2", raw, work / "base.qcow2"], "qemu-img convert", logf)
        raw.unlink()
        shutil.rmtree(rootfs)
        (work / "recipe.json").write_text(json.dumps(
            {"hash": digest, "suite": SUITE, "packages": read_list(IMAGE_PACKAGES),
             "kernel": kernels[0].name}, indent=2) + "\n")
        (work / "complete").touch()
        work.rename(image.dir)
        prune_stale(paths.images, keep=digest)
        log(f"image {digest} built in {timer}")
        return image
