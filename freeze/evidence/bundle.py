"""The evidence bundle: one directory (optionally a .tar) auditors verify offline.

Layout (every path is listed in bundle.json and in SHA256SUMS):
  bundle.json                    index: roots, statements, journal, backup digest
  root/root-vN.dsse.json         ceremony root envelopes, every version
  statements/TYPE.dsse.json      DSSE envelopes (in-toto Statement v1)
  statements/TYPE.timestamps.json  RFC 3161 tokens (sidecar)
  documents/NAME                 the signed documents themselves (manifest, reports)
  signatures/TYPE.pae            the exact bytes every signer signed (DSSE PAE)
  signatures/TYPE.N.sigbytes     raw bytes of signature N (what was timestamped)
  signatures/TYPE.PERSON.sig     armored SSHSIG of SSH signers, for ssh-keygen -Y verify
  signatures/allowed_signers     OpenSSH allowed signers for the SSH signers
  signatures/TYPE.PERSON.ed25519 raw Ed25519 signature of an Ed25519 signer (openssl pkeyutl)
  keys/PERSON.pub.pem            that signer's public key from the ceremony root (PEM SPKI)
  timestamps/TYPE.N.TSA.tsr      RFC 3161 replies, for openssl ts -verify
  timestamps/TSA.ca.pem          the TSA roots from the ceremony root
  journal/entries.jsonl          one journal leaf per line (exact bytes)
  journal/checkpoint-SIZE.note   C2SP checkpoints with cosignatures
  journal/proofs/*.json          inclusion and consistency proofs
  backup.sha256                  the counting-DB backup digest (sha256sum format)
  VERIFY.txt                     how to check the essentials with stock tools
  SHA256SUMS                     sha256sum -c over everything above

Every file is derived from the signed inputs (root envelopes, statement envelopes,
the documents they name, timestamp tokens, the journal) by `assemble`, the same
inputs always giving the same bytes; `verify.py` rebuilds the bundle that way and
accepts nothing more, less or different.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from freeze.durable import atomic_stream, write_tree
from freeze.errors import InputError, UsageError
from freeze.evidence import merkle, sshsig, statement
from freeze.evidence.codec import b64encode, canonical_json, is_sha256_hex, sha256_hex
from freeze.evidence.dsse import Envelope
from freeze.evidence.journal import Journal, parse_entry
from freeze.evidence.note import Checkpoint, SignedNote
from freeze.evidence.root import Root, load_root_envelope
from freeze.evidence.timestamp import load_sidecar, parse_sidecar, sidecar_path
from freeze.inputs import read_input

BUNDLE_FORMAT = "https://election-freeze.example/evidence-bundle/v1"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class StatementInput:
    evidence_type: str
    envelope: Path
    document: Path


@dataclass(frozen=True)
class StatementContent:
    """One statement's bytes, as `assemble` takes them (from files or from a bundle)."""

    evidence_type: str
    envelope: bytes
    document: bytes
    timestamps: bytes | None  # the RFC 3161 sidecar, if the envelope was timestamped


def _read(path: Path) -> bytes:
    return read_input(path, "file")


def create(
    out: Path,
    *,
    roots: list[Path],
    statements: list[StatementInput],
    journal_path: Path,
    backup: tuple[str, str] | None = None,
    make_tar: bool = False,
) -> Path:
    if out.exists():
        raise UsageError(f"{out} already exists; choose a new bundle directory")
    journal = Journal.open(journal_path)
    contents = []
    for st in statements:
        side = sidecar_path(st.envelope)
        contents.append(StatementContent(st.evidence_type, _read(st.envelope), _read(st.document),
                                         _read(side) if load_sidecar(side) else None))
    files = assemble(roots=[_read(p) for p in roots], statements=contents,
                     entries=journal.entries(), notes=journal.checkpoints(), backup=backup,
                     what={st.evidence_type: str(st.envelope) for st in statements})
    write_tree(out, files)
    if make_tar:
        tar_path = out.with_name(out.name + ".tar")
        atomic_stream(tar_path, lambda fh: _write_tar(fh, out.name, files))
        return tar_path
    return out


def signed_backup(statements: list[StatementContent]) -> tuple[str, str] | None:
    """(name, sha256) of the backup the zero-report statement names, if it names one."""
    for st in statements:
        if st.evidence_type == "zero-report":
            subjects = statement.parse(Envelope.from_bytes(st.envelope), "zero-report").subjects
            if len(subjects) > 1:
                return str(subjects[1].get("name")), str(subjects[1]["digest"]["sha256"])
    return None


def assemble(
    *,
    roots: list[bytes],
    statements: list[StatementContent],
    entries: list[bytes],
    notes: list[str],
    backup: tuple[str, str] | None = None,
    what: dict[str, str] | None = None,
) -> dict[str, bytes]:
    """Every file of the bundle (path -> bytes), derived from its signed inputs alone.

    The same inputs always give the same files, byte for byte (roots in version
    order, statements in type order, document names from the signed statement,
    the backup from the signed zero-report statement): the verifier rebuilds the
    bundle from the bundle's own roots, envelopes, documents, timestamp tokens and
    journal, and accepts nothing more, less or different (see verify.py "layout").
    """
    what = what or {}
    files: dict[str, bytes] = {}
    loaded = sorted(((load_root_envelope(data, what="root")[1], data) for data in roots),
                    key=lambda pair: pair[0].version)
    if not loaded:
        raise UsageError("a bundle needs the ceremony root (--root)")
    versions = [r.version for r, _ in loaded]
    if len(set(versions)) != len(versions):
        raise InputError(f"two root envelopes of the same version (v{versions})")
    root_paths = []
    for r, data in loaded:
        rel = f"root/root-v{r.version}.dsse.json"
        files[rel] = data
        root_paths.append(rel)
    current = loaded[-1][0]

    leaves = [merkle.leaf_hash(e) for e in entries]
    files["journal/entries.jsonl"] = b"".join(e + b"\n" for e in entries)
    cp_paths = []
    checkpoints = []
    for text in notes:
        cp = Checkpoint.parse_body(SignedNote.parse(text).text)
        rel = f"journal/checkpoint-{cp.size}.note"
        files[rel] = text.encode()
        cp_paths.append(rel)
        checkpoints.append(cp)
    for a, b in zip(checkpoints, checkpoints[1:], strict=False):
        if a.size >= 1:
            proof = merkle.consistency_proof(a.size, leaves[: b.size])
            files[f"journal/proofs/consistency-{a.size}-{b.size}.json"] = canonical_json(
                {"first": a.size, "second": b.size, "proof": [b64encode(h) for h in proof]}
            )
    latest = checkpoints[-1] if checkpoints else None

    types = [st.evidence_type for st in statements]
    if len(set(types)) != len(types):
        raise UsageError("one statement per evidence type in a bundle (the latest of each)")
    signed = signed_backup(statements)
    if backup is not None and signed is not None and backup != signed:
        raise InputError(f"--backup {backup[0]}={backup[1]} is not the backup the signed zero-report "
                         f"statement names ({signed[0]}={signed[1]})")
    if backup is not None and signed is None:
        raise InputError("--backup: no zero-report statement in the bundle names a backup")
    backup = signed

    allowed: list[str] = []
    index_statements = []
    for st in sorted(statements, key=lambda s: s.evidence_type):
        t = st.evidence_type
        source = what.get(t, f"{t} envelope")
        env = Envelope.from_bytes(st.envelope, what=source)
        doc_name = str(statement.parse(env, t).subjects[0].get("name"))
        if not _SAFE_NAME.match(doc_name):
            raise InputError(f"{source}: the statement names its document {doc_name[:60]!r}; "
                             "a bundle needs a plain [A-Za-z0-9._-] name")
        files[f"statements/{t}.dsse.json"] = st.envelope
        files[f"documents/{doc_name}"] = st.document
        files[f"signatures/{t}.pae"] = env.pae()
        digest = sha256_hex(env.payload)
        jidx = None
        for pos, e in enumerate(entries):
            d = parse_entry(e, pos)
            if d.get("event") == "statement" and d.get("subject", {}).get("sha256") == digest:
                jidx = pos
        if jidx is None:
            raise InputError(f"{source}: its statement is not recorded in the journal")
        entry = {
            "type": t,
            "envelope": f"statements/{t}.dsse.json",
            "document": f"documents/{doc_name}",
            "journal_index": jidx,
        }
        if latest and jidx < latest.size:
            proof = merkle.inclusion_proof(jidx, leaves[: latest.size])
            rel = f"journal/proofs/inclusion-{t}.json"
            files[rel] = canonical_json(
                {"index": jidx, "size": latest.size, "proof": [b64encode(h) for h in proof]}
            )
        for n, sig in enumerate(env.signatures):
            files[f"signatures/{t}.{n}.sigbytes"] = sig.sig
            for person in current.people.values():
                for key in person.keys:
                    if key.kind == "ssh" and key.verify(sig.sig, env.pae()):
                        files[f"signatures/{t}.{person.id}.sig"] = sshsig.armor(sig.sig).encode()
                        line = f'{person.id} namespaces="{sshsig.NAMESPACE}" {key.openssh()}'
                        if line not in allowed:
                            allowed.append(line)
                    elif key.kind == "ed25519" and key.verify(sig.sig, env.pae()):
                        # derived from signed content only: the root's key, the envelope's signature
                        files[f"signatures/{t}.{_file_id(person.id)}.ed25519"] = sig.sig
                        files[_key_file(person.id, person.keys, key)] = _spki_pem(key.material)
        records = parse_sidecar(st.timestamps, what=f"{source} timestamps") if st.timestamps else []
        if records:
            assert st.timestamps is not None
            files[f"statements/{t}.timestamps.json"] = st.timestamps
            entry["timestamps"] = f"statements/{t}.timestamps.json"
        sig_index = {hashlib.sha256(s.sig).hexdigest(): n for n, s in enumerate(env.signatures)}
        for rec in records:
            sig_n = sig_index.get(rec.signature_sha256)
            tsa_name = re.sub(r"[^A-Za-z0-9._-]", "_", rec.tsa)
            if sig_n is not None:
                files[f"timestamps/{t}.{sig_n}.{tsa_name}.tsr"] = rec.response
        index_statements.append(entry)
    if allowed:
        files["signatures/allowed_signers"] = ("\n".join(allowed) + "\n").encode()
    for tsa in current.tsas:
        files[f"timestamps/{re.sub(r'[^A-Za-z0-9._-]', '_', tsa.name)}.ca.pem"] = "".join(
            tsa.certificates
        ).encode()
    index = {
        "format": BUNDLE_FORMAT,
        "election": current.election,
        "ceremony": current.ceremony,
        "roots": root_paths,
        "statements": index_statements,
        "journal": {"entries": "journal/entries.jsonl", "checkpoints": cp_paths},
    }
    if backup is not None:
        name, digest = backup
        if not is_sha256_hex(digest) or not _SAFE_NAME.match(name):
            raise InputError("backup digest must be NAME and a sha256 hex digest")
        files["backup.sha256"] = f"{digest}  {name}\n".encode()
        index["backup"] = {"name": name, "sha256": digest}
    files["bundle.json"] = canonical_json(index) + b"\n"
    files["VERIFY.txt"] = verify_sheet(index, current, files).encode()
    sums = "".join(f"{sha256_hex(data)}  {rel}\n" for rel, data in sorted(files.items()))
    files["SHA256SUMS"] = sums.encode()
    return files


def _plain(text: str) -> str:
    """Root text (names, roles) on one printable line of the sheet."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _file_id(person_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", person_id)


def _key_file(person_id: str, keys: tuple[Any, ...], key: Any) -> str:
    ed = [k for k in keys if k.kind == "ed25519"]
    n = "" if len(ed) == 1 else f".{ed.index(key) + 1}"
    return f"keys/{_file_id(person_id)}{n}.pub.pem"


def _spki_pem(raw: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_tar(fh: BinaryIO, top: str, files: dict[str, bytes]) -> None:
    """A reproducible tar of the bundle: sorted members, owner 0, mtime 0, mode 0644."""
    with tarfile.open(fileobj=fh, mode="w") as tar:
        for rel in sorted(files):
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(files[rel])
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            tar.addfile(info, io.BytesIO(files[rel]))


# A bundle tar comes from whoever hands it over: bound what extracting it may write.
MAX_TAR_MEMBERS = 100_000
MAX_TAR_BYTES = 4 * 1024**3


def extract_tar(tar_path: Path, into: Path) -> Path:
    """Extract a bundle tar safely (regular files and directories only, no escapes).

    Only an uncompressed tar (what `bundle create --tar` writes) is accepted: a
    compressed one could expand without bound. Member count and total size are
    checked on the headers, before anything is written.
    """
    try:
        with tarfile.open(tar_path, "r:") as tar:
            members = []
            total = 0
            for m in tar:
                members.append(m)
                if len(members) > MAX_TAR_MEMBERS:
                    raise InputError(f"{tar_path}: more than {MAX_TAR_MEMBERS} members; not a bundle")
                if not (m.isfile() or m.isdir()):
                    raise InputError(f"{tar_path}: {m.name!r} is not a regular file")
                parts = Path(m.name).parts
                if m.name.startswith("/") or ".." in parts:
                    raise InputError(f"{tar_path}: unsafe path {m.name!r}")
                total += m.size
                if total > MAX_TAR_BYTES:
                    raise InputError(f"{tar_path}: members add up to more than {MAX_TAR_BYTES} bytes")
            tar.extractall(into, members=members, filter="data")
    except tarfile.ReadError:
        raise InputError(f"{tar_path}: not an uncompressed tar (a bundle is a plain .tar or a directory)") from None
    except tarfile.TarError as exc:
        raise InputError(f"{tar_path}: unreadable tar ({exc})") from None
    if not members:
        raise InputError(f"{tar_path}: empty tar")
    tops = {Path(m.name).parts[0] for m in members}
    if len(tops) != 1:
        raise InputError(f"{tar_path}: a bundle tar holds exactly one directory")
    return into / tops.pop()


_PAYLOAD_CMD = (
    "python3 -c 'import base64,json,sys; "
    "sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)[\"payload\"]))'"
)


def verify_sheet(index: dict[str, Any], root: Root, files: dict[str, bytes]) -> str:
    lines = [
        f"EVIDENCE BUNDLE - election {root.election}, ceremony {root.ceremony}",
        "",
        "The full check (offline, nothing in this directory is executed):",
        "  freeze verify-evidence THIS_DIRECTORY --root-pin SHA256_FROM_THE_MINUTES",
        f"  ceremony root v{root.version} digest (sha256 of its payload): {root.digest}",
        "",
        "The essentials with stock tools, from inside this directory:",
        "",
        "1. Nothing was changed since the bundle was made:",
        "     sha256sum -c SHA256SUMS",
        "   (then compare the digest of SHA256SUMS, or of the documents, with the minutes)",
        "",
        "2. The keys and TSA certificates the commands below use (signatures/allowed_signers,",
        "   timestamps/*.ca.pem) come from THIS bundle, which anyone can rewrite: trust them only",
        "   if they are the ones in the ceremony root whose digest is in the minutes.",
        f"   The root digest is the sha256 of the root's payload (v{root.version} here):",
        f"     {_PAYLOAD_CMD} < root/root-v{root.version}.dsse.json | sha256sum",
        f"     {_PAYLOAD_CMD} < root/root-v{root.version}.dsse.json | python3 -m json.tool",
        "   The second command shows each person's keys ('ssh' lines must match allowed_signers)",
        "   and the timestamp_authorities certificates (must match the .ca.pem files).",
        "   An 'ed25519' key's 'public' value must equal what this prints for its keys/ file:",
        "     openssl pkey -pubin -in keys/PERSON.pub.pem -outform DER | tail -c 32 | base64",
        "",
    ]
    n = 3
    for st in index["statements"]:
        t = st["type"]
        ed_sigs = sorted(r for r in files if r.startswith(f"signatures/{t}.") and r.endswith(".ed25519"))
        if ed_sigs:
            lines.append(f"{n}. Ed25519 signatures on the {t} statement (openssl 3; one command per signer,")
            lines.append("   each must print 'Signature Verified Successfully'):")
            for rel in ed_sigs:
                pid = rel.removeprefix(f"signatures/{t}.").removesuffix(".ed25519")
                person = next((p for p in root.people.values() if _file_id(p.id) == pid), None)
                key_rel = next((_key_file(person.id, person.keys, k) for k in person.keys
                                if k.kind == "ed25519" and _key_file(person.id, person.keys, k) in files
                                and k.verify(files[rel], files[f"signatures/{t}.pae"])), None) if person else None
                who = f"   # {_plain(person.name)} ({_plain(person.role)})" if person else ""
                lines.append(
                    f"     openssl pkeyutl -verify -pubin -inkey {key_rel or f'keys/{pid}.pub.pem'} -rawin "
                    f"-in signatures/{t}.pae -sigfile {rel}{who}"
                )
            lines.append("")
            n += 1
        ssh_sigs = sorted(r for r in files if r.startswith(f"signatures/{t}.") and r.endswith(".sig"))
        if ssh_sigs:
            lines.append(f"{n}. SSH signatures on the {t} statement (one command per signer):")
            for rel in ssh_sigs:
                ssh_id = rel.split(".")[-2]
                p_ = root.people.get(ssh_id)
                who = f"   # {_plain(p_.name)} ({_plain(p_.role)})" if p_ else ""
                lines.append(
                    f"     ssh-keygen -Y verify -f signatures/allowed_signers -I {ssh_id} "
                    f"-n {sshsig.NAMESPACE} -s {rel} < signatures/{t}.pae{who}"
                )
            lines.append(
                f"   signatures/{t}.pae is the DSSE PAE: 'DSSEv1', the payload type and the "
                "statement, which names the document's sha256 (see statements/)."
            )
            lines.append("")
            n += 1
        need = root.thresholds.get(t)
        if need and (ed_sigs or ssh_sigs):
            counts = ", ".join(f"{n_} {role}" for role, n_ in sorted(need.items()))
            lines.append(f"   Threshold for {t}: good signatures from {counts} (distinct people, roles as in")
            lines.append("   the root payload's 'people'); the commands above name each signer's role.")
            lines.append("")
        tsrs = sorted(r for r in files if r.startswith(f"timestamps/{t}.") and r.endswith(".tsr"))
        if tsrs:
            lines.append(f"{n}. Trusted time on the {t} signatures (RFC 3161):")
            for rel in tsrs:
                sig_n, tsa = rel.removeprefix(f"timestamps/{t}.").removesuffix(".tsr").split(".", 1)
                lines.append(
                    f"     openssl ts -verify -data signatures/{t}.{sig_n}.sigbytes -in {rel} "
                    f"-CAfile timestamps/{tsa}.ca.pem"
                )
                lines.append(f"     openssl ts -reply -in {rel} -text   # shows the time")
            lines.append("")
            n += 1
    lines += [
        f"{n}. Journal: journal/entries.jsonl holds one event per line; each",
        "   journal/checkpoint-SIZE.note is a C2SP checkpoint (origin, size, base64 root)",
        "   cosigned by witnesses. Compare its size and root with the line in the paper minutes.",
        "",
    ]
    if "backup" in index:
        lines += [
            f"{n + 1}. Counting-DB backup: with the backup file next to this directory,",
            "     sha256sum -c backup.sha256",
            "",
        ]
    return "\n".join(lines)
