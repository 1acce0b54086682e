#!/usr/bin/env python3
"""Throughput of `freeze snapshot` / `freeze verify` against references measured in
the same run, on the same tree, with a warm page cache:

  * `find TREE -type f -print0 | xargs -0 -P"$(nproc)" sha256sum`  (goal: ratio >= 1.0)
  * AIDE `--init` / `--check` with a generated aide.conf: sha256 only as hash, the
    same attributes freeze records (p ftype i l n u g s m c acl xattrs caps), its
    databases in a temporary directory, num_workers = nproc      (goal: ratio >= 5)

Ratio = reference time / freeze time (higher is better for freeze); best of
--repeat runs each, the sha256sum/snapshot/verify runs interleaved. Then peak RSS
(/usr/bin/time %M) of freeze snapshot and of
AIDE --init on two generated trees of different sizes, to show how memory grows
with the tree (the hashing pipeline is bounded; the manifest itself holds one
entry per path, like AIDE's database).

Usage:  .venv/bin/python benchmarks/hash_throughput.py [--tree /usr] [--repeat 3]
                                                       [--rss-files 5000,20000]
The freeze runs use a profile with only the files collector, so all three tools
do the same job: walk, stat, read and hash every regular file.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FREEZE = [sys.executable, "-m", "freeze"]
TIME = "/usr/bin/time"


def run_timed(argv: list[str], *, ok: tuple[int, ...] = (0,), env: dict | None = None,
              shell: bool = False) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB) of one command."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        cmd = [TIME, "-f", "%M", "-o", tf.name] + (["bash", "-c", argv[0]] if shell else argv)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              cwd=REPO, env=env)
        elapsed = time.perf_counter() - t0
        if proc.returncode not in ok:
            sys.exit(f"benchmark: {' '.join(argv)[:120]} failed ({proc.returncode}): "
                     f"{proc.stderr.decode(errors='replace')[-400:]}")
        lines = [ln for ln in Path(tf.name).read_text().splitlines() if ln.strip().isdigit()]
        return elapsed, int(lines[-1]) if lines else 0


def best(fn, repeat: int) -> tuple[float, int]:
    results = [fn() for _ in range(repeat)]
    return min(r[0] for r in results), max(r[1] for r in results)


def tree_stats(tree: Path) -> tuple[int, int, int]:
    files = entries = size = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        entries += len(dirnames) + len(filenames)
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if not os.path.islink(os.path.join(dirpath, name)):
                files += 1
                size += st.st_size
    return files, entries, size


class Tools:
    def __init__(self, tree: Path, work: Path) -> None:
        self.tree = tree
        self.work = work
        self.profile = work / f"profile-{abs(hash(str(tree)))}.yml"
        self.profile.write_text(
            f"name: benchmark\npaths: [{tree}]\npackages: {{enabled: false}}\n"
            "services: {enabled: false}\naccounts: {enabled: false}\n"
            "network: {enabled: false}\nkernel: {enabled: false}\n")
        self.manifest = work / f"manifest-{abs(hash(str(tree)))}.json"
        self.aide_dir = work / f"aide-{abs(hash(str(tree)))}"
        self.aide_dir.mkdir(exist_ok=True)
        self.aide_conf = self.aide_dir / "aide.conf"
        # AIDE rule paths are regular expressions: bracket anything special
        tree_regex = re.sub(r"([^A-Za-z0-9/_-])", r"[\1]", str(tree))
        self.aide_conf.write_text(
            f"database_in=file:{self.aide_dir}/aide.db\n"
            f"database_out=file:{self.aide_dir}/aide.db.new\n"
            "gzip_dbout=no\n"
            f"report_url=file:{self.aide_dir}/report.log\n"
            f"num_workers={os.cpu_count() or 2}\n"
            "Freeze = p+ftype+i+l+n+u+g+s+m+c+acl+xattrs+caps+sha256\n"
            f"{tree_regex} Freeze\n")

    def sha256sum(self) -> tuple[float, int]:
        return run_timed([f"find {self.tree} -type f -print0 | "
                          f"xargs -0 -P\"$(nproc)\" sha256sum >/dev/null"], shell=True,
                         ok=(0, 123))  # 123: a file vanished or was unreadable

    def snapshot(self) -> tuple[float, int]:
        return run_timed(FREEZE + ["snapshot", "-p", str(self.profile), "-o",
                                   str(self.manifest), "--force", "--json"])

    def verify(self) -> tuple[float, int]:
        return run_timed(FREEZE + ["verify", str(self.manifest), "-p", str(self.profile),
                                   "--json"], ok=(0, 1, 2, 3, 4, 5, 6, 7))

    def aide_init(self) -> tuple[float, int]:
        r = run_timed(["aide", f"--config={self.aide_conf}", "--init"])
        os.replace(self.aide_dir / "aide.db.new", self.aide_dir / "aide.db")
        return r

    def aide_check(self) -> tuple[float, int]:
        return run_timed(["aide", f"--config={self.aide_conf}", "--check"],
                         ok=tuple(range(0, 8)))


def make_tree(root: Path, files: int, size: int = 16 * 1024) -> Path:
    """`files` files of `size` random bytes, 100 per directory."""
    if root.exists():
        return root
    chunk = os.urandom(size)
    for i in range(files):
        d = root / f"d{i // 100:05d}"
        if i % 100 == 0:
            d.mkdir(parents=True)
        with open(d / f"f{i:07d}", "wb") as fh:
            fh.write(chunk[i % 97:] + chunk[: i % 97])
    return root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", default="/usr", help="tree to hash (default /usr)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    ap.add_argument("--aide-repeat", type=int, default=None,
                    help="best of N AIDE runs (default: --repeat)")
    ap.add_argument("--rss-files", default="5000,20000",
                    help="file counts of the two generated trees for the RSS check")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    for tool in ("aide", "sha256sum", "xargs", "find", TIME):
        if not shutil.which(tool):
            sys.exit(f"benchmark: {tool} not found (scripts/bootstrap.sh installs aide)")
    aide_repeat = args.aide_repeat or args.repeat
    with tempfile.TemporaryDirectory(prefix="freeze-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            tree = Path(args.tree).resolve()
            files, entries, size = tree_stats(tree)
            print(f"tree {tree}: {entries} entries, {files} files, {size / 1e9:.2f} GB; "
                  f"{os.cpu_count()} CPUs; best of {args.repeat} (AIDE {aide_repeat})",
                  flush=True)
            t = Tools(tree, work)
            t.sha256sum()  # warm the page cache; not timed
            t.snapshot()  # the manifest verify reads; not timed
            # interleaved (sha256sum, snapshot, verify) x repeat: a shared machine's
            # speed drifts over minutes, so each round compares like with like
            rounds = [(t.sha256sum(), t.snapshot(), t.verify()) for _ in range(args.repeat)]
            sha, snap, ver = (
                (min(r[i][0] for r in rounds), max(r[i][1] for r in rounds)) for i in range(3))
            ainit = best(t.aide_init, aide_repeat)
            acheck = best(t.aide_check, aide_repeat)
            mbps = size / 1e6
            rows = [("sha256sum | xargs -P", sha), ("freeze snapshot", snap),
                    ("freeze verify", ver), ("aide --init", ainit), ("aide --check", acheck)]
            print(f"{'command':24} {'seconds':>8} {'MB/s':>8} {'entries/s':>10} {'RSS MB':>7}")
            for name, (sec, rss) in rows:
                print(f"{name:24} {sec:8.2f} {mbps / sec:8.0f} {entries / sec:10.0f} "
                      f"{rss / 1024:7.0f}")
            print(f"RATIO snapshot vs sha256sum pipeline: {sha[0] / snap[0]:.2f}x (goal >= 1.0)")
            print(f"RATIO verify   vs sha256sum pipeline: {sha[0] / ver[0]:.2f}x (goal >= 1.0)")
            print(f"RATIO snapshot vs aide --init:        {ainit[0] / snap[0]:.2f}x (goal >= 5)")
            print(f"RATIO verify   vs aide --check:       {acheck[0] / ver[0]:.2f}x (goal >= 5)",
                  flush=True)
        sizes = [int(x) for x in args.rss_files.split(",")]
        print(f"peak RSS on generated trees (16 KiB files): {sizes}")
        prev = None
        for n in sizes:
            tree = make_tree(work / f"tree-{n}", n)
            t = Tools(tree, work)
            t.sha256sum()
            snap = best(t.snapshot, 1)
            ver = best(t.verify, 1)
            ainit = best(t.aide_init, 1)
            print(f"  {n:7d} files: freeze snapshot {snap[1] / 1024:6.1f} MB "
                  f"({snap[0]:.2f} s), freeze verify {ver[1] / 1024:6.1f} MB "
                  f"({ver[0]:.2f} s), aide --init {ainit[1] / 1024:6.1f} MB ({ainit[0]:.2f} s)")
            if prev is not None:
                dn = n - prev[0]
                print(f"  growth per 1000 extra files: freeze "
                      f"{(snap[1] - prev[1]) / 1024 / dn * 1000:.2f} MB, aide "
                      f"{(ainit[1] - prev[2]) / 1024 / dn * 1000:.2f} MB")
            prev = (n, snap[1], ainit[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
