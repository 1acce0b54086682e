"""The ceremony journal: an append-only RFC 6962 Merkle log in SQLite.

Each leaf is the canonical JSON of one event (its position, time, actor, what
happened and the sha256 of what it refers to). SQLite triggers refuse UPDATE and
DELETE, which stops accidents, not root; tamper EVIDENCE comes from checkpoints
(C2SP signed notes) signed by the log key and cosigned by witnesses, and from
the checkpoint line printed in the paper minutes: an edited, removed or
truncated entry no longer matches a cosigned root.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path
from typing import Any

from freeze.errors import InputError, NoInputError, VerificationError
from freeze.evidence import merkle
from freeze.evidence.codec import canonical_json, parse_json
from freeze.evidence.keys import Signer
from freeze.evidence.note import Checkpoint, SignedNote, cosign, sign_log
from freeze.evidence.root import format_time

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
  BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
  BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;
"""


class Journal:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._db = conn
        self.path = path

    @classmethod
    def create(cls, path: Path, origin: str) -> Journal:
        if path.exists():
            raise InputError(f"{path} already exists; not overwriting a journal")
        if not origin or any(c.isspace() for c in origin):
            raise InputError("journal origin must be non-empty without spaces")
        conn = sqlite3.connect(path, isolation_level=None)
        conn.executescript(_SCHEMA)
        conn.execute("INSERT INTO meta VALUES ('origin', ?)", (origin,))
        return cls(conn, path)

    @classmethod
    def open(cls, path: Path) -> Journal:
        if not path.is_file():
            raise NoInputError(f"{path}: no such journal")
        try:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("SELECT value FROM meta WHERE key='origin'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{path}: not a freeze journal ({exc})") from None
        return cls(conn, path)

    @property
    def origin(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key='origin'").fetchone()
        if row is None:
            raise InputError(f"{self.path}: journal has no origin")
        return str(row[0])

    def entries(self) -> list[bytes]:
        return [bytes(r[0]) for r in self._db.execute("SELECT leaf FROM entries ORDER BY idx")]

    def size(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def append(
        self, *, actor: str, event: str, subject_name: str = "", subject_sha256: str = "",
        details: dict[str, Any] | None = None, now: dt.datetime | None = None,
    ) -> int:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            idx = self.size()
            leaf = canonical_json({
                "index": idx,
                "time": format_time(now or dt.datetime.now(dt.UTC)),
                "actor": actor,
                "event": event,
                "subject": {"name": subject_name, "sha256": subject_sha256},
                "details": details or {},
            })
            self._db.execute("INSERT INTO entries VALUES (?, ?)", (idx, leaf))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return idx

    def checkpoint(self, log_signer: Signer) -> SignedNote:
        leaves = [merkle.leaf_hash(e) for e in self.entries()]
        cp = Checkpoint(self.origin, len(leaves), merkle.root(leaves))
        raw = log_signer.ref.raw_ed25519()
        if raw is None:
            raise InputError("the journal log key must be an Ed25519 key")
        note = SignedNote(cp.body(), [sign_log(cp.body(), cp.origin, log_signer.sign_raw_ed25519, raw)])
        self._db.execute(
            "INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (cp.size, note.render())
        )
        return note

    def store_cosigned(self, note: SignedNote) -> None:
        cp = Checkpoint.parse_body(note.text)
        known = self._db.execute("SELECT note FROM checkpoints WHERE size=?", (cp.size,)).fetchone()
        if known is None or SignedNote.parse(known[0]).text != note.text:
            raise VerificationError("this checkpoint was not issued by this journal")
        self._db.execute("UPDATE checkpoints SET note=? WHERE size=?", (note.render(), cp.size))

    def checkpoints(self) -> list[str]:
        return [str(r[0]) for r in self._db.execute("SELECT note FROM checkpoints ORDER BY size")]

    def close(self) -> None:
        self._db.close()


def cosign_note(note_text: str, name: str, signer: Signer, timestamp: int | None = None) -> SignedNote:
    note = SignedNote.parse(note_text)
    Checkpoint.parse_body(note.text)
    raw = signer.ref.raw_ed25519()
    if raw is None:
        raise InputError("cosigning needs an Ed25519 key")
    note.add(cosign(note.text, name, int(timestamp if timestamp is not None else time.time()),
                    signer.sign_raw_ed25519, raw))
    return note


def parse_entry(leaf: bytes, position: int) -> dict[str, Any]:
    d = parse_json(leaf, what=f"journal entry {position}")
    if not isinstance(d, dict) or d.get("index") != position:
        raise VerificationError(
            f"journal entry at position {position} says index {d.get('index') if isinstance(d, dict) else '?'}"
            " (an entry was removed or moved)"
        )
    return d
