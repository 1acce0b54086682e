"""A file written while the collector reads it is recorded as ONE state: its
recorded size is the number of bytes its recorded sha256 covers.

Found on the lab's monitoring host during the freeze ceremony: the collector's
store (/var/log/remote/HOST/DAY.log, a `rotating` log) grew between fstat and the
end of the read, so the manifest paired the old size with a hash of more bytes,
and verify then reported the recorded bytes as rewritten (changed file) although
the log had only grown.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from freeze.collect import files


@pytest.mark.parametrize("start", [100, files._SMALL_FILE + 1000, 0])
def test_recorded_size_is_what_the_hash_covers(tmp_path: Path, start: int) -> None:
    log = tmp_path / "store.log"
    log.write_bytes(b"a" * start)
    fd = os.open(log, os.O_RDONLY)
    try:
        entry = files._entry(os.fstat(fd), "file")  # the size the collector saw first
        with log.open("ab") as out:  # ... then the writer appends before the read
            out.write(b"new line\n" * 50)
        files._hash_into(entry, fd, None)
    finally:
        os.close(fd)
    content = log.read_bytes()
    assert entry["size"] == len(content)
    assert entry["sha256"] == hashlib.sha256(content).hexdigest()


def test_an_unchanged_file_keeps_its_fstat_size(tmp_path: Path) -> None:
    f = tmp_path / "static.conf"
    f.write_bytes(b"x" * (files._SMALL_FILE * 3 + 7))
    entry = files.describe(str(f), likely_file=True)
    assert entry is not None
    assert entry["size"] == f.stat().st_size
    assert entry["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
