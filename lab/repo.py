"""A local apt repository for the offline VMs: exactly the packages of
repo-packages.txt plus the dependencies the base image lacks.

Dependencies are resolved by the host's apt-get against the image's own dpkg
status file (``Dir::State::status``), in a private apt state directory, so the
result is exactly what ``apt-get install`` inside a fresh VM will ask for. The
repository is a flat one (``Packages`` from dpkg-scanpackages) served over
loopback by ``python -m http.server``; qemu forwards the guests' 10.0.2.100:80 to
it (see vm.py).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

from lab.config import LAB_SRC, LabError, LabPaths
from lab.image import Image, debian_sources
from lab.util import Timer, locked, log, need_tools, prune_stale, read_list, run, sha256_parts

REPO_PACKAGES = LAB_SRC / "repo-packages.txt"


STANDINS = LAB_SRC / "standins"


def _standin_files() -> list[Path]:
    return sorted(p for p in STANDINS.rglob("*") if p.is_file()) if STANDINS.is_dir() else []


def repo_hash(image: Image) -> str:
    standins = [f"{p.relative_to(STANDINS)}:{oct(p.stat().st_mode & 0o777)}:{p.read_text()}"
                for p in _standin_files()]
    return sha256_parts("repo-v1", image.recipe_hash, "\n".join(read_list(REPO_PACKAGES)), *standins)


def _build_standins(work: Path, logf: Path) -> int:
    """Build the lab's stand-in packages (lab/standins/<name>/, a dpkg-deb tree) into
    the repository: packages no Debian mirror has (the Wazuh agent), so that the
    roles' offline install paths run for real. Each says LAB STAND-IN in its
    description and carries a ~labstandin version."""
    built = 0
    for tree in sorted(p for p in STANDINS.iterdir() if (p / "DEBIAN" / "control").is_file()) \
            if STANDINS.is_dir() else []:
        run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(work / f"{tree.name}-standin.deb")],
            f"dpkg-deb (stand-in {tree.name})", logf)
        built += 1
    return built


def current_repo(paths: LabPaths, image: Image) -> Path | None:
    repo = paths.repos / repo_hash(image)
    return repo if (repo / "complete").exists() else None


def _apt_options(state: Path, image: Image, archives: Path) -> list[str]:
    opts = {
        "Dir::Etc::SourceList": "/dev/null",
        "Dir::Etc::SourceParts": str(state / "sources.list.d"),
        "Dir::Etc::Preferences": "/dev/null",
        "Dir::Etc::PreferencesParts": "/dev/null",
        "Dir::State": str(state / "state"),
        "Dir::State::Lists": str(state / "lists"),
        "Dir::State::status": str(image.dpkg_status),
        "Dir::Cache": str(state / "cache"),
        "Dir::Cache::archives": str(archives),
        "APT::Install-Recommends": "false",
        "APT::Get::Assume-Yes": "true",
        "Debug::NoLocking": "true",
    }
    return [f"-o{k}={v}" for k, v in opts.items()]


def build_repo(paths: LabPaths, image: Image, force: bool = False) -> Path:
    """Return the cached repository for this image and package list, building it if needed."""
    digest = repo_hash(image)
    with locked(paths.repos / ".lock"):
        repo = paths.repos / digest
        if (repo / "complete").exists() and not force:
            os.utime(repo)  # recently used: prune_stale keeps it
            return repo
        need_tools("apt-get", "dpkg-scanpackages")
        timer = Timer()
        work = paths.repos / f"tmp-{digest}"
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(repo, ignore_errors=True)
        state = work / ".apt"
        for sub in ("sources.list.d", "state/lists/partial", "lists/partial", "cache",
                    "archives/partial"):
            (state / sub).mkdir(parents=True, exist_ok=True)
        sources = debian_sources()
        suffix = ".sources" if sources.name.endswith(".sources") else ".list"
        shutil.copy2(sources, state / "sources.list.d" / f"debian{suffix}")
        archives = state / "archives"
        opts = _apt_options(state, image, archives)
        logf = work / "build.log"
        packages = read_list(REPO_PACKAGES)
        log(f"building apt repository {digest} for {len(packages)} packages (log {logf})")
        run(["apt-get", *opts, "update"], "apt-get update (lab repository)", logf)
        run(["apt-get", *opts, "--download-only", "install", *packages],
            "apt-get download (lab repository)", logf)
        debs = sorted(archives.glob("*.deb"))
        for deb in debs:
            shutil.move(str(deb), work / deb.name)
        shutil.rmtree(state)
        standins = _build_standins(work, logf)
        scan = subprocess.run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null"],
                              cwd=work, capture_output=True, check=False)
        if scan.returncode != 0:
            raise LabError(f"dpkg-scanpackages failed: {scan.stderr.decode().strip()[-200:]}")
        (work / "Packages").write_bytes(scan.stdout)
        with gzip.open(work / "Packages.gz", "wb") as gz:
            gz.write(scan.stdout)
        (work / "complete").touch()
        work.rename(repo)
        prune_stale(paths.repos, keep=digest)
        log(f"apt repository {digest}: {len(debs)} packages + {standins} stand-in(s) in {timer}")
        return repo
