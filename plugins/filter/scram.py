# -*- coding: utf-8 -*-
"""SCRAM-SHA-256 verifiers computed on the controller (RFC 5802/7677, PostgreSQL's format).

Why: the postgresql_server role sends PostgreSQL a verifier, never the password, so
the plaintext never reaches the database host (not in SQL, argv or server logs). The
salt is derived from the password and the role name (HMAC), so the same password gives
the same verifier on every run: the role can compare it with pg_authid and stay
idempotent (changed=0) instead of re-hashing with a fresh salt every converge. The
salt is still unique per role and password, which is what it is for.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from ansible.errors import AnsibleFilterError

ITERATIONS = 4096  # PostgreSQL's scram_iterations default


def scram_sha256_verifier(password, role: str, iterations: int = ITERATIONS) -> str:
    """`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>` for `password`."""
    if not isinstance(password, str) or not password:
        raise AnsibleFilterError("scram_sha256_verifier: the password is empty or not a string")
    secret = password.encode("utf-8")
    salt = hmac.new(secret, b"election.freeze/postgresql/" + str(role).encode("utf-8"),
                    hashlib.sha256).digest()[:16]
    salted = hashlib.pbkdf2_hmac("sha256", secret, salt, int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return (f"SCRAM-SHA-256${int(iterations)}:{b64(salt).decode()}$"
            f"{b64(stored_key).decode()}:{b64(server_key).decode()}")


class FilterModule:
    def filters(self):
        return {"scram_sha256_verifier": scram_sha256_verifier}
