"""The auditor's verification report and the printable minutes sheet.

Built from what `verify_bundle` established (its checks and `facts`) and from the
bundle's files, read only for evidence whose signatures verified: people are named
with their roles from the trusted ceremony root, never from unsigned files. Two
documents, each as HTML (jinja2) and optionally PDF (weasyprint, the `pdf` extra):

  verification-report  verdict, digests for the minutes, people and roles, what each
                       statement names and who signed it when, hosts, zero totals,
                       every check with its result
  minutes              the values to copy into (or compare with) the paper minutes,
                       in groups of four characters; a value the auditor brought from
                       the minutes that differs is printed beside the bundle's, with
                       the differing groups marked
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freeze import __version__
from freeze.durable import atomic_write
from freeze.evidence.codec import b64encode
from freeze.evidence.dsse import Envelope
from freeze.evidence.root import Root, format_time, load_root_envelope
from freeze.evidence.verify import Report
from freeze.report.model import ZeroReport
from freeze.report.render import template_environment

_env = template_environment()
_env.filters["hexgroups"] = lambda text: " ".join(groups(str(text)))
_env.filters["hexlines"] = lambda text: [" ".join(groups(str(text))[i:i + 8]) for i in range(0, 16, 8)]
_env.globals["zip"] = zip


def human_time(at: dt.datetime) -> str:
    """2026-11-28 10:50:41 UTC: a date as people write it in minutes."""
    return format_time(at).replace("T", " ").replace("Z", " UTC")


def _human_iso(text: str) -> str:
    try:
        return human_time(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text


def groups(text: str, size: int = 4) -> list[str]:
    """Split a digest into groups a person can compare and copy by hand."""
    return [text[i:i + size] for i in range(0, len(text), size)]


@dataclass(frozen=True)
class Compared:
    """A value for the minutes, and what the auditor brought from the minutes (if anything)."""

    label: str
    value: str  # what the bundle holds ("" if it could not be read)
    given: str | None = None  # what the auditor typed (from the paper minutes)
    note: str = ""

    @property
    def value_groups(self) -> list[str]:
        return groups(self.value)

    @property
    def given_groups(self) -> list[str]:
        return groups(self.given or "")

    @property
    def matches(self) -> bool | None:
        return None if self.given is None else self.given.lower() == self.value.lower()

    def side_by_side(self, per_row: int = 4) -> list[tuple[list[tuple[str, bool]], list[tuple[str, bool]]]]:
        """Rows of (minutes groups, bundle groups), each group with `same`, for the mismatch view."""
        a, b = self.given_groups, self.value_groups
        n = max(len(a), len(b))
        a += [""] * (n - len(a))
        b += [""] * (n - len(b))
        same = [x.lower() == y.lower() for x, y in zip(a, b, strict=True)]
        return [(list(zip(a[i:i + per_row], same[i:i + per_row], strict=True)),
                 list(zip(b[i:i + per_row], same[i:i + per_row], strict=True)))
                for i in range(0, n, per_row)]


@dataclass
class SignerRow:
    person: str
    name: str
    role: str
    key: str  # short key id
    signed: dict[str, str] = field(default_factory=dict)  # type -> TSA time (or "signed")


@dataclass
class StatementRow:
    type: str
    document: str
    sha256: str
    sequence: str
    created: str
    signers: list[str]
    times: list[str]


@dataclass
class AuditReport:
    election: str
    ceremony: str
    verified: bool
    failed: int
    verified_at: str
    tool: str
    bundle: str
    anchor: str
    root_version: str
    root_expires: str
    minutes: list[Compared]
    people: list[SignerRow]
    types: list[str]
    statements: list[StatementRow]
    hosts: list[tuple[str, str]]
    zero: ZeroReport | None
    zero_note: str
    checks: list[tuple[bool, str, str]]


def _ok(report: Report, name: str) -> bool:
    return any(c.ok and c.name == name for c in report.checks)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def build(base: Path, report: Report, *, bundle_label: str, root_pin: str | None,
          checkpoint_line: str | None, tar_sha256: str | None = None,
          now: dt.datetime | None = None) -> AuditReport:
    """Gather the report from a verified (or failed) bundle directory `base`."""
    now = now or dt.datetime.now(dt.UTC)
    idx = _read_json(base / "bundle.json")
    idx = idx if isinstance(idx, dict) else {}
    root: Root | None = report.facts.get("root")
    # the bundle's own newest root, for the side-by-side view when the pin did not match
    bundle_root_digest = root.digest if root else ""
    if root is None:
        for rel in idx.get("roots", []) if isinstance(idx.get("roots"), list) else []:
            try:
                _, r = load_root_envelope((base / str(rel)).read_bytes())
            except Exception:  # noqa: BLE001 - unverified input: shown as unreadable
                continue
            bundle_root_digest = r.digest
    sums = base / "SHA256SUMS"
    bundle_digest = hashlib.sha256(sums.read_bytes()).hexdigest() if sums.is_file() else ""
    cp = report.facts.get("checkpoint")
    minutes = [
        Compared("Ceremony root digest (sha256 of the root payload)", bundle_root_digest, root_pin,
                 "freeze root init printed it; --root-pin"),
        Compared("Bundle digest (sha256 of SHA256SUMS, which names every file)", bundle_digest, None,
                 "sha256sum SHA256SUMS"),
    ]
    if tar_sha256:
        minutes.append(Compared("Bundle tar (sha256 of the .tar file)", tar_sha256, None, "sha256sum BUNDLE.tar"))
    if cp is not None or checkpoint_line:
        given_root = checkpoint_line.split()[-1] if checkpoint_line and checkpoint_line.split() else None
        given_head = " ".join(checkpoint_line.split()[:-1]) if checkpoint_line else ""
        head = f"{cp.origin} {cp.size}" if cp is not None else ""
        note = (f"journal {cp.origin}, size {cp.size} entries" if cp is not None else "no cosigned checkpoint")
        if checkpoint_line and given_head != head:
            note += f" (the minutes say: {given_head})"
        minutes.append(Compared("Journal checkpoint root (base64), latest cosigned", b64encode(cp.root) if cp else "",
                                given_root, note))

    types = [str(st.get("type")) for st in idx.get("statements", []) if isinstance(st, dict)]
    signers: dict[str, dict[str, str]] = report.facts.get("signers", {})
    times: dict[str, list[tuple[int, str, dt.datetime]]] = report.facts.get("times", {})
    people: list[SignerRow] = []
    statements: list[StatementRow] = []
    hosts: list[tuple[str, str]] = []
    zero: ZeroReport | None = None
    zero_note = "no zero report in this bundle"
    if root is not None:
        for p in root.people.values():
            people.append(SignerRow(p.id, p.name, p.role, ", ".join(k.short for k in p.keys)))
        for st in idx.get("statements", []):
            if not isinstance(st, dict):
                continue
            t = str(st.get("type"))
            if not _ok(report, f"{t}: statement"):
                continue  # never read evidence whose signatures or statement did not verify
            env = Envelope.from_bytes((base / str(st["envelope"])).read_bytes(), what=t)
            who_sig: dict[int, str] = {}
            for n, sig in enumerate(env.signatures):
                for p in root.people.values():
                    if any(k.verify(sig.sig, env.pae()) for k in p.keys):
                        who_sig[n] = p.id
            stamp: dict[str, str] = {}
            for n, tsa, at in times.get(t, []):
                if n in who_sig:
                    stamp.setdefault(who_sig[n], f"{human_time(at)} ({tsa})")
            for row in people:
                if row.person in signers.get(t, {}):
                    row.signed[t] = stamp.get(row.person, "signed (no timestamp)")
            payload = json.loads(env.payload)
            subj = payload["subject"][0]
            pred = payload.get("predicate", {})
            statements.append(StatementRow(
                t, str(subj["name"]), str(subj["digest"]["sha256"]), str(pred.get("sequence", "")),
                _human_iso(str(pred.get("created", ""))),
                [f"{root.people[pid].name} ({root.people[pid].role})" for pid in sorted(signers.get(t, {}))],
                sorted({f"{human_time(at)} ({tsa})" for _, tsa, at in times.get(t, [])}),
            ))
            doc = base / str(st["document"])
            if t == "manifest":
                d = _read_json(doc)
                host = d.get("host") if isinstance(d, dict) else None
                if isinstance(host, dict):
                    hosts.append((str(host.get("hostname", "?")),
                                  f"machine-id {host.get('machine_id') or 'unknown'}; manifest created "
                                  f"{d.get('created', '?')}"))
                elif isinstance(d, dict) and isinstance(d.get("hosts"), dict):
                    hosts += [(str(h), "named by the manifest") for h in sorted(d["hosts"])]
            if t == "zero-report":
                try:
                    zero = ZeroReport.from_bytes(doc.read_bytes())
                    zero_note = ""
                    for h in zero.system.get("hosts", []) or []:
                        hosts.append((str(h), "named by the zero report"))
                except Exception as exc:  # noqa: BLE001 - signed, but maybe not freeze's format
                    zero_note = f"the signed zero report is not in freeze's zero-report format ({exc})"
    elif types:
        zero_note = "not read: the ceremony root did not verify"
    return AuditReport(
        election=str(root.election if root else idx.get("election", "?")),
        ceremony=str(root.ceremony if root else idx.get("ceremony", "?")),
        verified=report.ok, failed=sum(not c.ok for c in report.checks),
        verified_at=human_time(now), tool=f"freeze {__version__}", bundle=bundle_label,
        anchor="root pin from the minutes" if root_pin else "root file the auditor brought",
        root_version=str(root.version) if root else "?",
        root_expires=human_time(root.expires) if root else "?",
        minutes=minutes, people=people, types=types, statements=statements, hosts=hosts,
        zero=zero, zero_note=zero_note,
        checks=[(c.ok, c.name, c.detail) for c in report.checks],
    )


def _fmt_int(v: int | None) -> str:
    return "NULL" if v is None else f"{v:,}".replace(",", "\u202f")


def render_html(a: AuditReport, template: str) -> str:
    return _env.get_template(template).render(a=a, fmt=_fmt_int)


def write_reports(a: AuditReport, out: Path, *, pdf: bool = True) -> list[Path]:
    """verification-report.html/.pdf and minutes.html/.pdf in `out` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, template in (("verification-report", "audit_report.html"), ("minutes", "minutes.html")):
        html = render_html(a, template)
        atomic_write(out / f"{name}.html", html.encode("utf-8"))
        written.append(out / f"{name}.html")
        if pdf:
            from freeze.extras import require_extra

            weasyprint = require_extra("weasyprint", "pdf")
            atomic_write(out / f"{name}.pdf", weasyprint.HTML(string=html).write_pdf())
            written.append(out / f"{name}.pdf")
    return written
