"""Files: metadata AIDE records plus the SHA-256 of every regular file.

Standard library only (runs remotely through `python3 -`).

What is recorded per path (absolute, as seen on the frozen system even when the
profile's `root` points at a mounted image): type, mode, uid, gid, size, mtime_ns,
ctime_ns, inode, nlink, symlink target, device numbers, extended attributes,
POSIX ACLs (system.posix_acl_*), file capabilities (security.capability) and,
for regular files, sha256 of the content.

The content is ALWAYS hashed, also when size and mtime look unchanged: an
attacker who rewrites a file and restores its mtime (touch -r) keeps size and
inode (the osquery cache pitfall). Symlinks are never followed (lstat,
O_NOFOLLOW), so a mounted image's absolute links cannot lead outside it.

Speed and memory: the main thread lists directories; a pool of forked worker
processes (threads where fork is unavailable, see `_pool`) does the per-file work
(stat, xattrs, hashing with a reused buffer; OpenSSL uses SHA-NI) in batches. At
most `max_inflight_batches` batches are in flight, so memory
for the pipeline stays flat however large the tree; only the result entries grow
with it.
"""

from __future__ import annotations

import collections
import errno
import fnmatch
import hashlib
import os
import stat
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from freeze.collect.common import NOINPUT, CollectError, Collected, Progress, text_key, under_root

_BUF_SIZE = 1 << 20
_local = threading.local()
_ACL_XATTRS = {"system.posix_acl_access": "acl_access", "system.posix_acl_default": "acl_default"}
_CAPS_XATTR = "security.capability"
_O_NOATIME = getattr(os, "O_NOATIME", 0)
_MODES: dict[int, str] = {}

_TYPES = {
    stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", stat.S_IFCHR: "char",
    stat.S_IFBLK: "block",
}


def file_type(mode: int) -> str:
    return _TYPES.get(stat.S_IFMT(mode), "unknown")


def _buffer() -> memoryview:
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = memoryview(bytearray(_BUF_SIZE))
        _local.buf = buf
    return buf


def _open_noatime(real: str, extra_flags: int = 0) -> int:
    """Open for reading, never following a symlink, without touching atime if allowed."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | extra_flags
    if _O_NOATIME:
        try:
            return os.open(real, flags | _O_NOATIME)
        except PermissionError:
            pass  # O_NOATIME needs ownership or CAP_FOWNER
    return os.open(real, flags)


def hash_fd(fd: int, limit: int | None = None) -> str:
    """sha256 of the file's content (or of its first `limit` bytes), streamed.

    Reads into one reused per-thread buffer; hashlib releases the GIL while it
    hashes, so several threads hash at once.
    """
    h = hashlib.sha256()
    buf = _buffer()
    remaining = limit
    while True:
        want = _BUF_SIZE if remaining is None else min(_BUF_SIZE, remaining)
        if want == 0:
            break
        n = os.readv(fd, [buf[:want]])
        if n == 0:
            break
        h.update(buf[:n])
        if remaining is not None:
            remaining -= n
    return h.hexdigest()


def hash_fd_with_prefix(fd: int, prefix: int) -> tuple[str, str]:
    """(sha256 of the first `prefix` bytes, sha256 of everything) in one read."""
    whole = hashlib.sha256()
    head: Any = None
    buf = _buffer()
    total = 0
    while True:
        n = os.readv(fd, [buf])
        if n == 0:
            break
        if head is None and total + n >= prefix:
            cut = prefix - total
            whole.update(buf[:cut])
            head = whole.copy()
            whole.update(buf[cut:n])
        else:
            whole.update(buf[:n])
        total += n
    if head is None:  # the file is shorter than the prefix: it shrank
        head = whole
    return head.hexdigest(), whole.hexdigest()


def _xattrs(real: str | int, entry: dict[str, Any]) -> None:
    """Record xattrs, ACLs and capabilities of a path (not followed) or an open fd."""
    follow = {} if isinstance(real, int) else {"follow_symlinks": False}
    try:
        names = os.listxattr(real, **follow)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT):
            return
        raise
    other: dict[str, str] = {}
    for name in sorted(names):
        try:
            value = os.getxattr(real, name, **follow)
        except OSError as exc:
            if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.ENOENT):
                continue
            raise
        if name in _ACL_XATTRS:
            entry[_ACL_XATTRS[name]] = value.hex()
        elif name == _CAPS_XATTR:
            entry["caps"] = value.hex()
        elif len(value) > 256:
            other[name] = "sha256:" + hashlib.sha256(value).hexdigest()
        else:
            other[name] = value.hex()
    if other:
        entry["xattrs"] = other


def _entry(st: os.stat_result, kind: str) -> dict[str, Any]:
    perm = stat.S_IMODE(st.st_mode)
    mode = _MODES.get(perm)
    if mode is None:
        mode = _MODES.setdefault(perm, f"{perm:04o}")  # one shared str per mode value
    return {
        "type": kind,
        "mode": mode,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": st.st_ino,
        "nlink": st.st_nlink,
    }


def _hash_into(entry: dict[str, Any], fd: int, prefix_size: int | None) -> None:
    if prefix_size is not None:
        entry["prefix_sha256"], entry["sha256"] = hash_fd_with_prefix(fd, prefix_size)
    else:
        entry["sha256"] = hash_fd(fd)


def _describe_regular(real: str, prefix_size: int | None) -> dict[str, Any] | None:
    """Fast path for a name the directory listing says is a regular file.

    Open first (never following a symlink, never blocking on a FIFO swapped in)
    and describe the open file with fstat and fd-based xattr calls: one path
    lookup instead of three, and the metadata and the hash are of the same
    inode by construction. Returns None when the name is not (or no longer) a
    plain regular file; the caller then takes the general path.
    """
    try:
        fd = _open_noatime(real, os.O_NONBLOCK)
    except OSError:
        return None  # symlink (ELOOP), socket (ENXIO), vanished, unreadable...
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None  # replaced by something else since the listing: never read it
        entry = _entry(st, "file")
        _xattrs(fd, entry)
        _hash_into(entry, fd, prefix_size)
        return entry
    finally:
        os.close(fd)


def describe(real: str, *, prefix_size: int | None = None, with_hash: bool = True,
             likely_file: bool = False) -> dict[str, Any] | None:
    """All recorded attributes of one path; None if it vanished meanwhile.

    `likely_file`: the directory listing (d_type) said this is a regular file,
    so try the open-first fast path; anything else goes through lstat, and only
    a path lstat shows to be a regular file is ever opened.
    """
    if likely_file and with_hash:
        fast = _describe_regular(real, prefix_size)
        if fast is not None:
            return fast
    try:
        st = os.lstat(real)
    except FileNotFoundError:
        return None
    kind = file_type(st.st_mode)
    entry = _entry(st, kind)
    if kind == "symlink":
        entry["target"] = text_key(os.readlink(real))
    elif kind in ("char", "block"):
        entry["rdev"] = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    _xattrs(real, entry)
    if kind == "file" and with_hash:
        try:
            fd = _open_noatime(real)
        except FileNotFoundError:
            return None
        try:
            fst = os.fstat(fd)
            if (fst.st_ino, fst.st_dev) != (st.st_ino, st.st_dev):
                # replaced between lstat and open: describe what is there now
                return describe(real, prefix_size=prefix_size)
            _hash_into(entry, fd, prefix_size)
        finally:
            os.close(fd)
    return entry


def _matches(path: str, globs: tuple[str, ...] | list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, g) for g in globs)


def iter_paths(root: str, rules: list[dict[str, Any]]):
    """Yield (path, rule, is_file) for every path the rules cover, directories first.

    `is_file` is the directory listing's word (d_type) that the name is a
    regular file: a hint for the open-first fast path, never trusted alone.

    Paths are the file system's own names (undecodable bytes as surrogates, so
    they can be opened); `text_key` turns them into manifest keys.

    Nested rules: a directory that is itself another rule's path is left to that
    rule (so the longest rule governs, and `excluded` prunes whole subtrees).
    """
    rule_paths = {r["path"]: r for r in rules}
    for rule in sorted(rules, key=lambda r: r["path"]):
        if rule["volatility"] == "excluded":
            continue
        top = rule["path"]
        real_top = under_root(root, top)
        try:
            st = os.lstat(real_top)
        except FileNotFoundError:
            raise CollectError(f"{top}: no such file or directory (named in the profile)",
                               NOINPUT) from None
        except PermissionError:
            raise CollectError(f"{top}: permission denied", NOINPUT) from None
        include, exclude = rule.get("include") or [], rule.get("exclude") or []
        if not _matches(top, exclude) and (not include or _matches(top, include)):
            yield top, rule, stat.S_ISREG(st.st_mode)
        if not stat.S_ISDIR(st.st_mode):
            continue
        stack = [(top, 0)]
        while stack:
            d, depth = stack.pop()
            if depth >= 1 and not rule.get("recursive", True):
                continue
            try:
                with os.scandir(under_root(root, d)) as it:
                    children = [(e.name, e.is_dir(follow_symlinks=False),
                                 e.is_file(follow_symlinks=False)) for e in it]
            except FileNotFoundError:
                continue
            except PermissionError:
                raise CollectError(f"{d}: permission denied (cannot list directory)",
                                   NOINPUT) from None
            base = d.rstrip("/")
            subdirs = []
            for name, is_dir, is_file in sorted(children):
                p = f"{base}/{name}"
                if p in rule_paths and p != top:
                    continue  # governed by its own, more specific rule
                if _matches(p, exclude):
                    continue  # pruned, like AIDE's negative rules
                if not include or _matches(p, include):
                    yield p, rule, is_file
                if is_dir:
                    subdirs.append(p)
            stack.extend((s, depth + 1) for s in reversed(subdirs))


def _describe_batch(root: str, batch: list[tuple[str, int | None, bool]]
                    ) -> list[tuple[str, dict[str, Any] | None | OSError]]:
    out: list[tuple[str, dict[str, Any] | None | OSError]] = []
    for path, prefix, is_file in batch:
        key = text_key(path)
        try:
            out.append((key, describe(under_root(root, path), prefix_size=prefix,
                                      likely_file=is_file)))
        except OSError as exc:
            out.append((key, exc))
    return out


def _pool(workers: int) -> Executor:
    """Forked worker processes where possible, threads otherwise.

    The per-file work (stat, xattrs, open, read loop, dict building) is Python
    and holds the GIL between system calls; on small-file trees threads run it
    one at a time (measured on /usr/share, 54k files, 2 CPUs: 2.5 s with threads,
    0.9 s with two forked processes). Workers only run `_describe_batch` (os and
    hashlib), and fork keeps this working when the module came in on stdin
    (`python3 -` on a remote host). Without fork or POSIX semaphores (some
    sandboxes), fall back to threads.
    """
    try:
        import multiprocessing

        return ProcessPoolExecutor(max_workers=workers,
                                   mp_context=multiprocessing.get_context("fork"))
    except (ImportError, OSError, ValueError, NotImplementedError):
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="freeze-hash")


def collect(spec: dict[str, Any], *, growing: dict[str, int] | None = None,
            progress: Progress | None = None, workers: int | None = None,
            batch_size: int = 256, max_inflight_batches: int = 16) -> Collected:
    """Walk and hash every path the profile covers -> section `files`.

    Paths go to the workers (`_pool`) in batches (one future per `batch_size`
    paths, not per file: per-task overhead dominates for small files), and at most `max_inflight_batches` batches are pending, so the
    pipeline's memory is bounded whatever the tree size.
    """
    root = spec.get("root", "/")
    rules = spec.get("paths") or []
    growing = growing or {}
    entries: dict[str, dict[str, Any]] = {}
    workers = workers or min(8, os.cpu_count() or 2)
    done_files = done_bytes = 0
    inflight: collections.deque[Future] = collections.deque()

    def finish(fut: Future) -> None:
        nonlocal done_files, done_bytes
        for path, entry in fut.result():
            if isinstance(entry, PermissionError):
                raise CollectError(f"{path}: permission denied", NOINPUT)
            if isinstance(entry, OSError):
                raise CollectError(f"{path}: {entry.strerror or entry}", NOINPUT)
            if entry is not None:
                entries[path] = entry
                done_files += 1
                if entry["type"] == "file":
                    done_bytes += entry["size"]
        if progress is not None:
            progress(done_files, done_bytes)

    with _pool(workers) as pool:
        try:
            batch: list[tuple[str, int | None, bool]] = []
            for path, _rule, is_file in iter_paths(root, rules):
                batch.append((path, growing.get(text_key(path)) if growing else None, is_file))
                if len(batch) >= batch_size:
                    inflight.append(pool.submit(_describe_batch, root, batch))
                    batch = []
                    while len(inflight) > max_inflight_batches or inflight[0].done():
                        finish(inflight.popleft())
                        if not inflight:
                            break
            if batch:
                inflight.append(pool.submit(_describe_batch, root, batch))
            while inflight:
                finish(inflight.popleft())
        except BaseException:
            for fut in inflight:
                fut.cancel()
            raise
    return Collected(sections={"files": entries})
