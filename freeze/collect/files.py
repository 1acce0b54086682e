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

Speed and memory: a pool of forked worker processes (threads where fork is
unavailable, see `_pool`) lists directories and does the per-file work (stat,
xattrs, hashing; OpenSSL uses SHA-NI); the main thread only shares out the work.
At most `max_inflight_tasks` tasks are in flight, each bounded in work, so memory
for the pipeline stays flat however large the tree; only the result entries grow
with it.
"""

from __future__ import annotations

import collections
import errno
import fnmatch
import gzip
import hashlib
import os
import stat
import threading
import zlib
from collections.abc import Mapping
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import Any

from freeze.collect.common import NOINPUT, Collected, CollectError, Progress, text_key, under_root

_BUF_SIZE = 1 << 20
_SMALL_FILE = 1 << 16  # read in one call (see `_hash_into`)
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


def hash_fd(fd: int, head: bytes = b"") -> tuple[str, int]:
    """sha256 of the file's content from the current offset, streamed, and the
    number of bytes it covers. `head`: bytes already read from `fd` (hashed first
    and counted).

    Reads into one reused per-thread buffer; hashlib releases the GIL while it
    hashes, so several threads hash at once.
    """
    h = hashlib.sha256(head)
    total = len(head)
    buf = _buffer()
    while True:
        n = os.readv(fd, [buf])
        if n == 0:
            break
        h.update(buf[:n])
        total += n
    return h.hexdigest(), total


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
        return
    size = entry["size"]
    if 0 < size <= _SMALL_FILE:
        # Most files of a system tree are small: ask for one byte more than fstat
        # said; exactly `size` bytes back is the whole file (a short read of a
        # regular file is its end), one read instead of a read plus the empty
        # read that finds the end. Anything else (it grew, it shrank, or a
        # pseudo-file's size is not its length) goes on with the streamed read.
        data = os.read(fd, size + 1)
        if len(data) == size:
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            return
    else:
        data = b""
    # A file may be written while it is read (a log the collector's own store
    # appends to): `size` becomes the bytes the hash covers, so the record is one
    # consistent state. fstat's size from before the read would pair a length with
    # a hash of more bytes, and the next check of a growing log would find "its
    # recorded bytes" rewritten.
    entry["sha256"], entry["size"] = hash_fd(fd, head=data)


def _plain_hashes(entry: dict[str, Any], fd: int, prefix_size: int | None) -> None:
    """A compressed rotated log (NAME.N.gz under a `rotating` rule): the sha256 of
    its DECOMPRESSED content (`plain_sha256`), and with `prefix_size` the sha256 of
    its first decompressed bytes (`prefix_sha256`), so the verifier can find a
    recorded log's bytes again after logrotate compressed them. A file gzip cannot
    read gets the fixed value "unreadable" (it then matches no recorded content)."""
    os.lseek(fd, 0, os.SEEK_SET)
    whole = hashlib.sha256()
    head: Any = None
    total = 0
    try:
        with os.fdopen(os.dup(fd), "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as z:
            while True:
                chunk = z.read(_BUF_SIZE)
                if not chunk:
                    break
                if prefix_size is not None and head is None and total + len(chunk) >= prefix_size:
                    cut = prefix_size - total
                    whole.update(chunk[:cut])
                    head = whole.copy()
                    whole.update(chunk[cut:])
                else:
                    whole.update(chunk)
                total += len(chunk)
    except (OSError, EOFError, zlib.error):  # BadGzipFile is an OSError
        entry["plain_sha256"] = "unreadable"
        if prefix_size is not None:
            entry["prefix_sha256"] = "unreadable"
        return
    entry["plain_sha256"] = whole.hexdigest()
    if prefix_size is not None:
        entry["prefix_sha256"] = (head or whole).hexdigest()


def _hash_entry(entry: dict[str, Any], fd: int, prefix_size: int | None, plain: bool) -> None:
    if plain:
        _hash_into(entry, fd, None)
        _plain_hashes(entry, fd, prefix_size)
    else:
        _hash_into(entry, fd, prefix_size)


def _describe_regular(real: str, prefix_size: int | None, plain: bool = False
                      ) -> dict[str, Any] | None:
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
        _hash_entry(entry, fd, prefix_size, plain)
        return entry
    finally:
        os.close(fd)


def describe(real: str, *, prefix_size: int | None = None, with_hash: bool = True,
             likely_file: bool = False, plain: bool = False) -> dict[str, Any] | None:
    """All recorded attributes of one path; None if it vanished meanwhile.

    `likely_file`: the directory listing (d_type) said this is a regular file,
    so try the open-first fast path; anything else goes through lstat, and only
    a path lstat shows to be a regular file is ever opened. `plain`: a
    compressed rotated log, also hashed decompressed (`_plain_hashes`).
    """
    if likely_file and with_hash:
        fast = _describe_regular(real, prefix_size, plain)
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
                return describe(real, prefix_size=prefix_size, plain=plain)
            _hash_entry(entry, fd, prefix_size, plain)
        finally:
            os.close(fd)
    return entry


def _matches(path: str, globs: tuple[str, ...] | list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, g) for g in globs)


# Work items: a directory to list, ("dir", rule index, path), or paths to describe,
# ("paths", [(rule index, path, d_type says regular file), ...]).
_Item = tuple[str, Any, Any]
# One task's answer: (manifest key, entry | None if vanished | the OSError met) per
# path described, the work items left over (new subdirectories, paths beyond the
# budget), and an error that stops the scan (a directory that cannot be listed).
_TaskResult = tuple[list[tuple[str, "dict[str, Any] | None | OSError"]], list[_Item],
                    "str | None"]

# A task stops describing after this much work and hands the rest back, so one
# directory of large files is shared between the workers, not left to one.
_TASK_BYTES = 64 << 20
_TASK_PATHS = 512


def _describe_path(root: str, path: str, prefixes: Mapping[str, int], likely_file: bool,
                   rotating: bool = False) -> tuple[str, dict[str, Any] | None | OSError]:
    """(manifest key, entry | None if vanished | the OSError met) of one path."""
    key = text_key(path)
    try:
        return key, describe(under_root(root, path), prefix_size=prefixes.get(key),
                             likely_file=likely_file,
                             plain=rotating and path.endswith(".gz"))
    except OSError as exc:
        return key, exc


def _list_and_describe(root: str, rules: list[dict[str, Any]], rule_paths: frozenset[str],
                       items: list[_Item], prefixes: Mapping[str, int]) -> _TaskResult:
    """Worker task: list the directories of `items`, describe what their rules cover.

    Listing runs in the workers too (not only hashing): on small-file trees
    the scandir loop was the main thread's bottleneck. Children are filtered
    like AIDE's rules: a path that is itself another rule's path is left to
    that rule (the longest rule governs, `excluded` prunes whole subtrees),
    `exclude` globs prune, `include` globs select what is recorded but not
    where the walk goes. A non-recursive rule lists its top directory only.
    The directory listing's d_type ("is a regular file") is a hint for the
    open-first fast path, never trusted alone. Past `_TASK_BYTES` hashed or
    `_TASK_PATHS` described, the paths not yet described are handed back.
    """
    todo: list[tuple[int, str, bool]] = []
    rotating = {i for i, r in enumerate(rules) if r["volatility"] == "rotating"}
    later: list[_Item] = []
    for kind, first, second in items:
        if kind == "paths":
            todo.extend(first)
            continue
        index, d = first, second
        rule = rules[index]
        top = rule["path"]
        include, exclude = rule.get("include") or [], rule.get("exclude") or []
        descend = rule.get("recursive", True)
        try:
            with os.scandir(under_root(root, d)) as it:
                children = [(e.name, e.is_dir(follow_symlinks=False),
                             e.is_file(follow_symlinks=False)) for e in it]
        except FileNotFoundError:
            continue  # removed while the scan ran: its entry, if any, says so
        except PermissionError:
            return [], [], f"{d}: permission denied (cannot list directory)"
        base = d.rstrip("/")
        for name, is_dir, is_file in children:
            p = f"{base}/{name}"
            if p in rule_paths and p != top:
                continue
            if exclude and _matches(p, exclude):
                continue
            if not include or _matches(p, include):
                todo.append((index, p, is_file))
            if is_dir and descend:
                later.append(("dir", index, p))
    out: list[tuple[str, dict[str, Any] | None | OSError]] = []
    hashed = 0
    for n, (index, p, is_file) in enumerate(todo):
        if hashed >= _TASK_BYTES or n >= _TASK_PATHS:
            later.append(("paths", todo[n:], None))
            break
        key, entry = _describe_path(root, p, prefixes, is_file, index in rotating)
        out.append((key, entry))
        if isinstance(entry, dict) and entry["type"] == "file":
            hashed += entry["size"]
    return out, later, None


def _pool(workers: int) -> Executor:
    """Forked worker processes where possible, threads otherwise.

    The per-file work (stat, xattrs, open, read loop, dict building) is Python
    and holds the GIL between system calls; on small-file trees threads run it
    one at a time (measured on /usr/share, 54k files, 2 CPUs: 2.5 s with threads,
    0.9 s with two forked processes). Workers only run `_list_and_describe` (os and
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


def collect(spec: dict[str, Any], *, growing: Mapping[str, int] | None = None,
            progress: Progress | None = None, known: Mapping[str, Any] | None = None,
            workers: int | None = None,
            items_per_task: int = 16, max_inflight_tasks: int = 16) -> Collected:
    """Walk and hash every path the profile covers -> section `files`.

    The main thread only hands out work: workers (`_pool`) list directories and
    describe their children (`_list_and_describe`), a task being up to
    `items_per_task` directories (per-task overhead dominates for small
    directories) and at most `_TASK_BYTES` of hashing (the rest comes back and
    is shared out again); at most `max_inflight_tasks` tasks are pending, so the
    pipeline's memory is bounded whatever the tree size.

    `growing`: recorded sizes of growing files by manifest key (verify re-hashes
    that many bytes of each, see `hash_fd_with_prefix`). `known`: the entries
    of the manifest being verified; a new entry equal to its recorded one is
    stored as the recorded object (the new one is dropped), so verify holds
    one copy of what did not change instead of two.
    """
    root = spec.get("root", "/")
    rules = [r for r in spec.get("paths") or [] if r["volatility"] != "excluded"]
    rule_paths = frozenset(r["path"] for r in spec.get("paths") or [])
    entries: dict[str, dict[str, Any]] = {}
    workers = workers or min(8, os.cpu_count() or 2)
    done = [0, 0]  # files, bytes

    def record(results: list[tuple[str, dict[str, Any] | None | OSError]]) -> None:
        for path, entry in results:
            if isinstance(entry, PermissionError):
                raise CollectError(f"{path}: permission denied", NOINPUT)
            if isinstance(entry, OSError):
                raise CollectError(f"{path}: {entry.strerror or entry}", NOINPUT)
            if entry is not None:
                if known is not None:
                    recorded = known.get(path)
                    if recorded == entry:
                        entry = recorded
                entries[path] = entry
                done[0] += 1
                if entry["type"] == "file":
                    done[1] += entry["size"]

    prefixes = dict(growing or {})
    grows = {i for i, r in enumerate(rules) if r["volatility"] in ("growing", "rotating")}

    def sizes_for(task: list[_Item]) -> Mapping[str, int]:
        """The recorded sizes, only to a task that has paths under a growing rule."""
        for kind, first, _ in task:
            if (first in grows) if kind == "dir" else any(i in grows for i, _p, _f in first):
                return prefixes
        return {}

    def walk(pool: Executor) -> None:
        pending: collections.deque[_Item] = collections.deque()
        for index, rule in enumerate(rules):
            top = rule["path"]
            if rule["volatility"] == "switch":
                # one symlink, never a tree (a directory in its place is recorded, not
                # walked); absent is recorded as nothing: one profile serves hosts
                # with and without it, and one that goes is drift (removed)
                record([_describe_path(root, top, prefixes, False)])
                continue
            st = _lstat_top(root, top)
            include, exclude = rule.get("include") or [], rule.get("exclude") or []
            if not _matches(top, exclude) and (not include or _matches(top, include)):
                record([_describe_path(root, top, prefixes, stat.S_ISREG(st.st_mode),
                                       rule["volatility"] == "rotating")])
            if stat.S_ISDIR(st.st_mode):
                pending.append(("dir", index, top))
        inflight: set[Future[_TaskResult]] = set()
        try:
            while pending or inflight:
                while pending and len(inflight) < max_inflight_tasks:
                    # split what is known between the workers while the tree fans out
                    n = min(items_per_task, max(1, len(pending) // workers))
                    task = [pending.popleft() for _ in range(min(n, len(pending)))]
                    inflight.add(pool.submit(_list_and_describe, root, rules, rule_paths,
                                             task, sizes_for(task)))
                finished, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in finished:
                    results, later, error = fut.result()
                    record(results)
                    if error is not None:
                        raise CollectError(error, NOINPUT)
                    for item in later:
                        if item[0] == "paths":  # a task's leftovers: one share per worker
                            paths = item[1]
                            share = max(1, -(-len(paths) // workers))
                            pending.extend(("paths", paths[i:i + share], None)
                                           for i in range(0, len(paths), share))
                        else:
                            pending.append(item)
                if progress is not None:
                    progress(done[0], done[1])
        except BaseException:
            for fut in inflight:
                fut.cancel()
            raise

    with _pool(workers) as pool:
        walk(pool)
    return Collected(sections={"files": entries})


def _lstat_top(root: str, top: str) -> os.stat_result:
    try:
        return os.lstat(under_root(root, top))
    except FileNotFoundError:
        raise CollectError(f"{top}: no such file or directory (named in the profile)",
                           NOINPUT) from None
    except PermissionError:
        raise CollectError(f"{top}: permission denied", NOINPUT) from None
