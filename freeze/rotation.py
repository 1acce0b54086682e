"""Log rotation under a `rotating` path rule: what logrotate may do, and nothing else.

A log `NAME` and its numbered generations `NAME.1`, `NAME.2.gz`, ... form a chain
(logrotate's default naming; `delaycompress` leaves `NAME.1` plain; savelog's `NAME.0`, `NAME.1.gz`, ... count
from 0). One rotation
shifts every generation up by one: `NAME` becomes `NAME.1` (renamed, or copied
then truncated with `copytruncate`), `NAME.g` becomes `NAME.g+1` (compressed on
the way or not), the oldest past the rotate count is deleted, and a new `NAME`
starts empty. So after `s` rotations since the snapshot, the verifier requires:

  * the recorded bytes of `NAME` (its recorded size; the log grew after the
    snapshot and before the rotation) are the first bytes of `NAME.s`
    (decompressed if `.gz`); with s = 0, `NAME` is judged as `growing` (same
    inode, recorded bytes unchanged);
  * every recorded generation `NAME.g` is, byte for byte (decompressed), the
    content of `NAME.g+s`, with the same type and owner and the same mode or one
    with permission bits taken away (auditd makes what it rotates read-only), never
    one with a bit added (the same holds for the recorded `NAME` in `NAME.s`);
  * a recorded generation may be missing only past the end of the chain
    (g + s > the highest generation now) and only if the chain is not shorter
    than it was at the snapshot (logrotate deletes the oldest, never the middle);
  * the generations `NAME.1` .. `NAME.s-1` and the new `NAME` hold bytes written
    after the snapshot: not checked (like a growing log's new bytes), but the new
    `NAME` must have the recorded type, mode, owner, xattrs and ACLs;
  * nothing else may appear in the chain.

`s` is not taken from anywhere: it is the smallest number of rotations under
which everything recorded is found as required. If there is none, the drift is
reported under the best one (the fewest failures), each failure naming the path
and what was expected. A chain whose recorded content has ALL rotated out (more
rotations since the snapshot than generations kept) is drift: nothing recorded is
left to check, which only a new freeze (a new signed baseline) can settle.

Not modelled: date-named generations (`dateext`), other compressors than gzip,
`olddir`. Such files are judged as `growing` files are (a rotation is drift).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# NAME.N or NAME.N.gz, N in 1..9999
_GENERATION = re.compile(r"^(?P<base>.+)\.(?P<gen>0|[1-9][0-9]{0,3})(?P<gz>\.gz)?$")
# the generations the verifier asks prefix hashes for, beyond those recorded
# (rotations since the snapshot it can follow)
EXTRA_GENERATIONS = 60
_SAME_FOR_MEMBERS = ("type", "mode", "uid", "gid")
_SAME_FOR_NEW_BASE = ("type", "mode", "uid", "gid", "xattrs", "acl_access", "acl_default",
                      "caps")


def generation(path: str) -> tuple[str, int] | None:
    """(base path, N) of `NAME.N[.gz]` (N from 0: savelog's naming), else None."""
    m = _GENERATION.match(posixpath.basename(path))
    if m is None:
        return None
    return posixpath.join(posixpath.dirname(path), m.group("base")), int(m.group("gen"))


def member_names(base: str, gen: int) -> tuple[str, str]:
    return f"{base}.{gen}", f"{base}.{gen}.gz"


@dataclass(frozen=True)
class Failure:
    key: str  # the path the failure is reported under
    attribute: str
    old: Any
    new: Any


def _plain(entry: Mapping[str, Any]) -> Any:
    """The content's hash, decompressed for a .gz generation."""
    return entry.get("plain_sha256", entry.get("sha256"))


def _chain(section: Mapping[str, Any], base: str, members: Mapping[int, str]
           ) -> dict[int, tuple[str, Mapping[str, Any]]]:
    out: dict[int, tuple[str, Mapping[str, Any]]] = {}
    if base in section:
        out[0] = (base, section[base])
    for gen, key in members.items():
        out[gen] = (key, section[key])
    return out


def _mode_only_narrowed(old: Any, new: Any) -> bool:
    """Whether permission bits were only taken away (auditd makes the generations it
    rotates read-only: audit.log 0640 -> audit.log.1 0440); a bit added is never."""
    try:
        o, n = int(str(old), 8), int(str(new), 8)
    except ValueError:
        return False
    return n & ~o == 0


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], attrs: tuple[str, ...],
                 key: str, what: str, *, rotated: bool = False) -> list[Failure]:
    """`rotated`: `new` is a generation `old` was rotated into, whose mode may have
    lost permission bits (never gained any)."""
    return [Failure(key, f"{a} ({what})", old.get(a), new.get(a))
            for a in attrs if old.get(a) != new.get(a)
            and not (rotated and a == "mode" and _mode_only_narrowed(old.get(a), new.get(a)))]


def _judge(old: dict[int, tuple[str, Mapping[str, Any]]],
           new: dict[int, tuple[str, Mapping[str, Any]]], base: str, s: int,
           growing_base: Any) -> list[Failure]:
    """Everything wrong with the chain if there were `s` rotations since the snapshot."""
    failures: list[Failure] = []
    k_old = max((g for g in old if g > 0), default=0)
    k_now = max((g for g in new if g > 0), default=0)
    explained: set[int] = set()
    if 0 in old:
        recorded = old[0][1]
        if s == 0:
            if 0 not in new:
                failures.append(Failure(base, "rotation: log removed", "present", None))
            else:
                failures += [Failure(base, c.attribute, c.old, c.new)
                             for c in growing_base(old[0][1], new[0][1])]
        else:
            if 0 not in new:
                failures.append(Failure(base, "rotation: no new log after the rotation",
                                        "present", None))
            else:
                failures += _differences(recorded, new[0][1], _SAME_FOR_NEW_BASE, base,
                                         "new log after rotation")
            if s not in new:
                failures.append(Failure(base, f"rotation: recorded bytes not found "
                                              f"(expected in the generation {s} "
                                              f"rotation(s) on)",
                                        recorded.get("sha256"), None))
            else:
                key, entry = new[s]
                if recorded.get("type") == "file" and entry.get("prefix_sha256") != recorded.get(
                        "sha256"):
                    failures.append(Failure(key, f"rotation: recorded bytes of {base} rewritten",
                                            recorded.get("sha256"), entry.get("prefix_sha256")))
                failures += _differences(recorded, entry, _SAME_FOR_MEMBERS, key,
                                         f"rotated from {base}", rotated=True)
                explained.add(s)
    elif 0 in new:
        failures.append(Failure(base, "rotation: log not recorded", None, "present"))
    for g in sorted(x for x in old if x > 0):
        old_key, recorded = old[g]
        target = g + s
        if target not in new:
            if target > k_now and k_now >= k_old:
                continue  # rotated past the end of the chain: deleted by logrotate
            failures.append(Failure(old_key, "rotation: recorded generation missing"
                                    + (f" (expected {s} rotation(s) on)" if s else ""),
                                    _plain(recorded), None))
            continue
        key, entry = new[target]
        explained.add(target)
        if _plain(entry) != _plain(recorded):
            failures.append(Failure(key, f"rotation: content of recorded {old_key} changed",
                                    _plain(recorded), _plain(entry)))
        failures += _differences(recorded, entry, _SAME_FOR_MEMBERS, key,
                                 f"rotated from {old_key}", rotated=True)
    for g in sorted(x for x in new if x > 0):
        if g in explained or g < s:
            continue  # written after the snapshot (g < s) or judged above
        key, _entry = new[g]
        failures.append(Failure(key, "rotation: generation with no recorded origin",
                                None, "present"))
    return failures


def judge_chains(old: Mapping[str, Any], new: Mapping[str, Any], is_rotating: Any,
                 growing_base: Any) -> tuple[set[str], dict[str, list[Failure]]]:
    """Judge every rotation chain of `old`/`new` (two `files` sections).

    `is_rotating(path)`: whether the path's governing rule is `rotating`.
    `growing_base(old, new)`: the growing judgement of an unrotated log (a list
    of AttributeChange). Returns the keys judged here (the caller leaves them out
    of its own comparison) and the failures by reported key.
    """
    bases: dict[str, dict[str, dict[int, str]]] = {}  # base -> side -> gen -> key
    for side, section in (("old", old), ("new", new)):
        for key, entry in section.items():
            if entry.get("type") != "file" or not is_rotating(key):
                continue
            parsed = generation(key)
            if parsed is not None:
                bases.setdefault(parsed[0], {"old": {}, "new": {}})[side][parsed[1]] = key
    handled: set[str] = set()
    failures: dict[str, list[Failure]] = {}
    for base, sides in sorted(bases.items()):
        if any(0 in side for side in sides.values()):
            # savelog (Debian's cron.daily for process accounting) names the first
            # generation NAME.0: the chain's generations are then N + 1
            sides = {name: {n + 1: key for n, key in side.items()} for name, side in sides.items()}
        if base not in old and base not in new:
            continue  # no log of that name: the files are judged one by one
        if old.get(base, {}).get("type", "file") != "file" \
                or new.get(base, {}).get("type", "file") != "file":
            continue  # a directory or link of the log's name: judged one by one
        o = _chain(old, base, sides["old"])
        n = _chain(new, base, sides["new"])
        k_now = max((g for g in n if g > 0), default=0)
        best: list[Failure] | None = None
        for s in range(0, k_now + 1):
            found = _judge(o, n, base, s, growing_base)
            if best is None or len(found) < len(best):
                best = found
            if not found:
                break
        handled.update(key for key, _ in o.values())
        handled.update(key for key, _ in n.values())
        for f in best or []:
            failures.setdefault(f.key, []).append(f)
    return handled, failures


def prefix_requests(old: Mapping[str, Any], is_rotating: Any) -> dict[str, int]:
    """The sizes to re-hash for rotating logs: each recorded log's size, at its own
    path and at every generation it may have been rotated to."""
    out: dict[str, int] = {}
    recorded_gens: dict[str, int] = {}
    for key, entry in old.items():
        if entry.get("type") != "file" or not is_rotating(key):
            continue
        parsed = generation(key)
        if parsed is not None:
            recorded_gens[parsed[0]] = max(recorded_gens.get(parsed[0], 0), parsed[1])
    for key, entry in old.items():
        if entry.get("type") != "file" or not is_rotating(key):
            continue
        parsed = generation(key)
        if parsed is not None and parsed[0] in old:
            continue  # a generation of a recorded log, not a log
        size = entry.get("size")
        if not isinstance(size, int) or size < 0:
            continue
        out[key] = size
        for gen in range(0, recorded_gens.get(key, 0) + EXTRA_GENERATIONS + 1):
            for name in member_names(key, gen):
                out[name] = size
    return out
