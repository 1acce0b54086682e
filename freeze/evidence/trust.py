"""The chain of trust: from the auditor's anchor to the newest ceremony root.

Separate from `root` (what a root says) and `policy` (threshold counting), and
above both: deciding whether a root is trusted needs to count the signatures
over it, and counting needs to know what a root is. Keeping that decision here
lets `policy` depend on `root` without `root` depending back on `policy`.

Rotation follows TUF: version N+1 must be signed by a threshold of version N's
root signers AND a threshold of its own, and versions increase by exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass

from freeze.errors import VerificationError
from freeze.evidence.dsse import Envelope
from freeze.evidence.policy import count_envelope
from freeze.evidence.root import Root, load_root_envelope


def check_rotation(previous: Root, new: Root) -> None:
    if new.version != previous.version + 1:
        raise VerificationError(
            f"root version {new.version} does not follow version {previous.version} (must be +1)"
        )
    if new.election != previous.election:
        raise VerificationError("rotated root names a different election")


def verify_root_signatures(signed_by: Root, env: Envelope, *, label: str, other: Root | None = None) -> str:
    """Threshold `root` of `signed_by` over this root envelope; returns the explanation.

    During a rotation the envelope carries signatures of the old AND the new
    signers: each half ignores the other's, but a signature valid under neither
    root is refused.
    """
    result = count_envelope(signed_by, "root", env)
    if other is not None and result.bad_signatures:
        leftover = count_envelope(other, "root", env)
        strangers = {b.split(":")[0] for b in result.bad_signatures} & {
            b.split(":")[0] for b in leftover.bad_signatures
        }
        result.bad_signatures = [b for b in result.bad_signatures if b.split(":")[0] in strangers]
    text = f"{label}: " + result.describe().removeprefix("root: ")
    if not result.ok:
        raise VerificationError(text)
    return text


@dataclass
class TrustedRoot:
    root: Root
    chain: list[Root]
    notes: list[str]


def establish_trust(
    envelopes: list[bytes], *, pin: str | None = None, trusted: bytes | None = None
) -> TrustedRoot:
    """Walk the root versions from the auditor's anchor (pin or file) to the newest.

    `pin` is the sha256 of a root payload (printed at the ceremony); `trusted` the
    bytes of a root envelope file the auditor brought. Versions older than the
    anchor are ignored; every later version must be a valid rotation.
    """
    if not pin and trusted is None:
        raise VerificationError("no root of trust: give --root-pin SHA256 or --root FILE")
    loaded = []
    for i, data in enumerate(envelopes):
        env, root = load_root_envelope(data, what=f"root #{i + 1}")
        loaded.append((env, root))
    loaded.sort(key=lambda er: er[1].version)
    notes = []
    if trusted is not None:
        t_env, t_root = load_root_envelope(trusted, what="trusted root file")
        anchor_digest = t_root.digest
        how = "root file brought by the auditor"
    else:
        anchor_digest = pin.lower().removeprefix("sha256:")  # type: ignore[union-attr]
        how = "root digest pinned by the auditor"
    start = next((k for k, (_, r) in enumerate(loaded) if r.digest == anchor_digest), None)
    if start is None:
        if trusted is not None:
            loaded.insert(0, (t_env, t_root))
            start = 0
        else:
            raise VerificationError(
                f"no root in the evidence has the pinned digest {anchor_digest[:16]}...; "
                "the bundle's roots are not the ceremony's"
            )
    env, current = loaded[start]
    notes.append(f"root of trust: {how}, v{current.version} sha256:{current.digest}")
    notes.append(verify_root_signatures(current, env, label=f"root v{current.version} self-signed"))
    for _, other in loaded:
        if other.version == current.version and other.digest != current.digest:
            raise VerificationError(
                f"the evidence holds a different root v{other.version} than the trusted one (a fork)"
            )
    chain = [current]
    # versions older than the anchor are history the auditor did not ask about
    later = [(e, r) for e, r in loaded if r.version > current.version]
    for env, nxt in later:
        check_rotation(current, nxt)
        notes.append(verify_root_signatures(
            current, env, label=f"root v{nxt.version} by v{current.version} signers", other=nxt))
        notes.append(verify_root_signatures(
            nxt, env, label=f"root v{nxt.version} by its own signers", other=current))
        chain.append(nxt)
        current = nxt
    return TrustedRoot(current, chain, notes)
