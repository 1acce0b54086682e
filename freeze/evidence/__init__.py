"""Signed, timestamped, tamper-evident evidence that auditors verify offline.

This package sees only bytes and digests: it never imports a collector. The
manifest, zero report and drift report reach it as files whose exact bytes are
hashed and signed. Modules, from the bottom up:

- `codec`: base64 (standard and URL-safe), canonical JSON for our own documents, sha256.
- `dsse`: DSSE v1.0.2 envelopes and PAE.
- `keys`: Ed25519 PEM keys (encrypted PKCS#8), OpenSSH keys, PKCS#11 (optional), key identity.
- `sshsig`: the OpenSSH SSHSIG signature format (sign in Python, verify).
- `statement`: in-toto Statement v1 with our predicate types.
- `root`: the ceremony root (people, roles, keys, thresholds, expiry, rotation).
- `policy`: threshold counting over distinct keys and distinct people.
- `trust`: the chain of trust from the auditor's anchor through root rotations.
- `timestamp`: RFC 3161 requests (network only here) and offline verification.
- `journal`: RFC 6962 Merkle log in SQLite, C2SP checkpoints and cosignatures.
- `bundle`: the evidence directory auditors receive; `verify`: its offline check.
"""
