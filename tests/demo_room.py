"""A DEMO ceremony room: three key holders, a journal log key and the root spec naming
them, for the tests of the fleet ceremony and for scripts/demo.sh. The people are
alice and bob (directorate) and carol (auditor); thresholds: two of the directorate
and the auditor for manifests and zero reports, one of the directorate and the auditor
for a witnessed intervention's record (freeze intervention). DEMO keys: never for an election.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.tsa import LocalTsa

SIGNERS = ("alice", "bob", "carol")


def demo_room(base: Path, tsa: LocalTsa, keygen: Callable[[Path], None], election: str,
              ceremony: str = "fleet-freeze-1", origin: str = "election.example") -> Path:
    """Make base/keys/{alice,bob,carol,journal-log}.pem with `keygen` and return base/root-spec.yml."""
    keys = base / "keys"
    keys.mkdir(parents=True)
    for who in (*SIGNERS, "journal-log"):
        keygen(keys / f"{who}.pem")
    spec = base / "root-spec.yml"
    spec.write_text(f"""\
# DEMO root spec (tests/demo_room.py): demo key holders and a local test TSA.
election: {election}
ceremony: {ceremony}
expires: 2099-01-31T23:59:59Z
people:
  alice: {{role: directorate, name: "Alice (demo)", organisation: IT directorate, keys: [keys/alice.pub.pem]}}
  bob: {{role: directorate, name: "Bob (demo)", organisation: IT directorate, keys: [keys/bob.pub.pem]}}
  carol: {{role: auditor, name: "Carol (demo)", organisation: Court of Audit, keys: [keys/carol.pub.pem]}}
thresholds:
  root: {{directorate: 2}}
  manifest: {{directorate: 2, auditor: 1}}
  zero-report: {{directorate: 2, auditor: 1}}
  intervention: {{directorate: 1, auditor: 1}}
  checkpoint: {{auditor: 1}}
journal:
  origin: {origin}/{election}/{ceremony}
  log_key: keys/journal-log.pub.pem
timestamp_authorities:
  - {{name: local-tsa, url: "{tsa.url}", certificates: [{tsa.ca}]}}
""")
    return spec
