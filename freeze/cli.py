"""The `freeze` command line: parses arguments, prints, maps errors to exit codes.

This is the only module that prints or exits. Every other module returns data or
raises a `freeze.errors.FreezeError`; here each error becomes one line on stderr
and a documented exit status (see `freeze.errors`). A traceback is shown only with
`--debug`, because the people reading this output are auditors and observers in a
ceremony, not Python developers.

Layout: one `_register_<area>(subparsers)` function per area adds its commands and
points each at a `_cmd_<name>(args) -> int` handler in the same area section.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from freeze import __version__
from freeze.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOFTWARE,
    EXIT_USAGE,
    EXIT_VERIFY_FAILED,
    EXIT_WAITING,
    FreezeError,
    UsageError,
)

if TYPE_CHECKING:
    from freeze.evidence.guided import Status
    from freeze.evidence.keys import PassphraseSource
    from freeze.evidence.plan import Plan
    from freeze.profile import HostProfiles
    from freeze.transport import AnsibleInventory, SSHTransport

Handler = Callable[[argparse.Namespace], int]


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps each line of a description or epilog on its own, so "example:" and the
    command under it stay on their own lines (the default joins them into one
    paragraph); an indented line (the example command) is never wrapped."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out = []
        for line in text.splitlines():
            lead = line[: len(line) - len(line.lstrip())]
            if lead:  # an example command: never wrapped, so it can be copied as one line
                out.append(indent + line)
            else:
                out.append(textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent,
                                         break_on_hyphens=False, break_long_words=False))
        return "\n".join(out)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with our exit status."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------------------
# snapshot / verify (drift)
# ---------------------------------------------------------------------------


def _register_snapshot(sub: argparse._SubParsersAction[_Parser]) -> None:
    def remote_options(p: argparse.ArgumentParser) -> None:
        g = p.add_argument_group("remote host (SSH; nothing is installed on the host)")
        g.add_argument("--host", metavar="[USER@]HOST[:PORT]",
                       help="collect on this host over SSH with its own python3")
        g.add_argument("--identity", "-i", metavar="KEY",
                       help="SSH private key file (default: ssh-agent, then ~/.ssh keys)")
        g.add_argument("--known-hosts", metavar="FILE",
                       help="known_hosts file for strict host-key checking "
                            "(default ~/.ssh/known_hosts); unknown keys are refused")
        g.add_argument("--sudo", action="store_true",
                       help="run the remote collector with sudo -n")
        a = p.add_argument_group("whole inventory (Ansible connects; one manifest per host)")
        a.add_argument("--inventory", metavar="INVENTORY",
                       help="collect on every host of this Ansible inventory; the manifest "
                            "argument is then a directory of HOST.manifest.json files")
        a.add_argument("--limit", dest="host_limit", default="all", metavar="PATTERN",
                       help="Ansible host pattern (default: all)")
        a.add_argument("--become", action="store_true", help="Ansible become (sudo)")
        a.add_argument("--forks", type=int, default=10, metavar="N",
                       help="hosts collected in parallel (Ansible forks, default 10)")

    snap = sub.add_parser("snapshot", help="snapshot the counting system into a manifest",
                          description="Collect files, packages, services, accounts, network, "
                                      "kernel and database state named by the profile into a "
                                      "canonical JSON manifest.")
    snap.add_argument("--profile", "-p", required=True, metavar="PROFILE.yml",
                      help="the freeze profile; with --inventory also a directory of HOST.profile.yml "
                           "files, each host's own (as freeze-ceremony.yml composes them)")
    snap.add_argument("--output", "-o", required=True, metavar="MANIFEST",
                      help="manifest file to create (refuses to overwrite without --force); "
                           "with --inventory, a directory for HOST.manifest.json files")
    snap.add_argument("--force", action="store_true", help="replace an existing manifest")
    snap.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    remote_options(snap)
    snap.set_defaults(handler=_cmd_snapshot)

    ver = sub.add_parser("verify", help="verify the live system against a manifest (drift)",
                         description="Re-collect with the operator's profile and report what "
                                     "was added (1), removed (2) or changed (4); the exit "
                                     "status is the bitmask of the categories found.")
    ver.add_argument("manifest", metavar="MANIFEST", nargs="?",
                     help="manifest file (with --inventory: directory of HOST.manifest.json; in a "
                          "ceremony's manifests directory, the hosts its fleet-manifest.json names); "
                          "also accepted as --manifest/-m, as in freeze zero")
    ver.add_argument("--manifest", "-m", dest="manifest_option", metavar="MANIFEST", help=argparse.SUPPRESS)
    ver.add_argument("--profile", "-p", required=True, metavar="PROFILE.yml",
                     help="the profile the manifest was taken with; with --inventory also a "
                          "directory of HOST.profile.yml files, each host's own")
    ver.add_argument("--json", action="store_true", help="print the drift report as JSON")
    ver.add_argument("--max-entries", type=int, default=200, metavar="N",
                     help="show at most N entries in the human output (default 200)")
    ver.add_argument("--envelope", metavar="MANIFEST.dsse.json",
                     help="first check the manifest is the one this signed statement names "
                          "(exit 8 if not)")
    ver.add_argument("--expect-sha256", metavar="sha256:HEX",
                     help="first check the manifest has this digest, e.g. from the minutes (exit 8 if not)")
    remote_options(ver)
    ver.set_defaults(handler=_cmd_verify)


def _snapshot_transport(args: argparse.Namespace) -> SSHTransport | None:
    from freeze.transport import transport_from_options

    return transport_from_options(host=args.host, identity=args.identity,
                                  known_hosts=args.known_hosts, sudo=args.sudo,
                                  inventory=args.inventory)


def _cmd_snapshot(args: argparse.Namespace) -> int:
    import json

    from freeze.profile import load_profile
    from freeze.progress import scan_progress
    from freeze.snapshot import snapshot_to_file

    transport = _snapshot_transport(args)
    if args.inventory:
        from freeze.profile import load_host_profiles

        return _snapshot_inventory(args, load_host_profiles(args.profile))
    profile = load_profile(args.profile)
    with scan_progress("snapshot", None if not args.json else False) as progress:
        summary = snapshot_to_file(profile, args.output, force=args.force, transport=transport,
                                   progress=progress)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, sort_keys=True))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"manifest {args.output}", show_header=True)
    table.add_column("section")
    table.add_column("entries", justify="right")
    for name, n in summary.entries.items():
        table.add_row(name, str(n))
    for name, reason in sorted(summary.unavailable.items()):
        table.add_row(name, f"[yellow]unavailable: {reason}[/yellow]")
    console.print(table)
    console.print(f"sha256 {summary.sha256}  host {summary.host.get('hostname')}",
                  highlight=False, soft_wrap=True)
    return 0


def _inventory(args: argparse.Namespace) -> AnsibleInventory:
    from freeze.transport import AnsibleInventory

    return AnsibleInventory(args.inventory, profile_path=args.profile, limit=args.host_limit,
                            become=args.become, forks=args.forks)


def _print_host_errors(errors: dict[str, Exception]) -> None:
    for _host, exc in sorted(errors.items()):
        print(f"freeze: error: {exc}", file=sys.stderr)


def _snapshot_inventory(args: argparse.Namespace, profile: HostProfiles) -> int:
    import json

    from freeze.errors import worst_exit_code
    from freeze.snapshot import snapshot_inventory_to_dir

    done = snapshot_inventory_to_dir(profile, args.output, _inventory(args), force=args.force)
    if args.json:
        print(json.dumps({"hosts": done.written,
                          "errors": {h: str(e) for h, e in done.errors.items()}},
                         indent=2, sort_keys=True))
    else:
        for host, info in done.written.items():
            print(f"{host}: {info['manifest']} sha256 {info['sha256']}")
    _print_host_errors(done.errors)
    return worst_exit_code(done.errors)


def _verify_inventory(args: argparse.Namespace, profile: HostProfiles) -> int:
    import json

    from freeze.drift import verify_inventory_dir

    result = verify_inventory_dir(args.manifest, profile, _inventory(args))
    if args.json:
        print(json.dumps({"hosts": {h: r.to_dict() for h, r in result.reports.items()},
                          "errors": {h: str(e) for h, e in result.errors.items()}},
                         indent=2, sort_keys=True, default=str))
    else:
        # each host's report as `freeze verify` prints it for one host (kinds in words,
        # rows with column names, digests last), under the INVENTORY name (lab VMs and
        # cloned images share a hostname), then one summary line per host
        from rich.console import Console
        from rich.markup import escape

        from freeze.drift_text import render_drift_text
        from freeze.snapshot import host_manifest_path

        console = Console()
        summary = []
        for host, r in sorted(result.reports.items()):
            console.print(escape(f"== {host} (inventory host)"), highlight=False, soft_wrap=True)
            for line in render_drift_text(r, manifest=host_manifest_path(args.manifest, host),
                                          profile=profile.for_host(host),
                                          max_entries=args.max_entries):
                console.print(escape(line), highlight=False, soft_wrap=True)
            c = r.counts()
            summary.append(f"  {host}: " + ("clean" if r.is_clean else
                                            f"{c['added']} added, {c['removed']} removed, {c['changed']} changed"))
        summary += [f"  {host}: NOT VERIFIED" for host in sorted(result.errors)]
        console.print(escape("summary:\n" + "\n".join(summary)), highlight=False, soft_wrap=True)
    _print_host_errors(result.errors)
    return result.exit_code


def _one_manifest(args: argparse.Namespace, positional: str, option: str) -> None:
    """MANIFEST positional or --manifest/-m (both commands take both spellings), exactly once."""
    a, b = getattr(args, positional), getattr(args, option)
    if a and b and a != b:
        raise UsageError("give the manifest once (positional or --manifest), not two different ones")
    if not (a or b):
        raise UsageError("the manifest is required (MANIFEST or --manifest FILE)")
    args.manifest = a or b


def _cmd_verify(args: argparse.Namespace) -> int:
    import json

    _one_manifest(args, "manifest", "manifest_option")
    from freeze.drift import verify
    from freeze.manifest import check_manifest_identity, load_manifest
    from freeze.profile import load_profile
    from freeze.progress import scan_progress

    if args.inventory:
        if args.envelope or args.expect_sha256:
            raise UsageError("--envelope/--expect-sha256 check one manifest file, not --inventory")
        _snapshot_transport(args)  # option checks
        from freeze.profile import load_host_profiles

        return _verify_inventory(args, load_host_profiles(args.profile))
    # load_manifest keeps only the parsed manifest, not its bytes: verify needs no more
    manifest = load_manifest(args.manifest)
    identity = check_manifest_identity(manifest, envelope=args.envelope,
                                       expected_sha256=args.expect_sha256)
    profile = load_profile(args.profile)
    transport = _snapshot_transport(args)
    with scan_progress("verify", None if not args.json else False) as progress:
        report = verify(manifest, profile, transport=transport, progress=progress)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str))
        return report.exit_code
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    for line in identity:
        console.print(escape(line), highlight=False, soft_wrap=True)
    from freeze.drift_text import render_drift_text

    for line in render_drift_text(report, manifest=args.manifest, profile=profile,
                                  max_entries=args.max_entries):
        # soft_wrap: the terminal wraps long lines itself, never mid-word by rich
        console.print(escape(line), highlight=False, soft_wrap=True)
    return report.exit_code


# ---------------------------------------------------------------------------
# zero (backup, clear, zero report)
# ---------------------------------------------------------------------------


def _register_zero(sub: argparse._SubParsersAction[_Parser]) -> None:
    z = sub.add_parser(
        "zero", help="zero the counting database: verified backup, clear, zero report",
        description="Verify the system against the manifest, back up the database with "
                    "pg_dump and prove the backup restores, clear the result tables and reset "
                    "sequences in ONE transaction, and commit only if the zero report computed "
                    "from base tables is all zeros. Evidence is committed in the database with "
                    "the zero and exported to --evidence-dir. Re-running after a crash is safe.")
    z.add_argument("--profile", "-p", required=True, metavar="PROFILE.yml")
    z.add_argument("manifest_positional", metavar="MANIFEST", nargs="?", help=argparse.SUPPRESS)
    z.add_argument("--manifest", "-m", dest="manifest_option", metavar="MANIFEST",
                   help="manifest the live system must match before anything is changed "
                        "(required; may also be given positionally, as in freeze verify)")
    z.add_argument("--evidence-dir", required=True, metavar="DIR",
                   help="where the zero record and zero report (JSON, HTML, PDF) are written")
    z.add_argument("--backup-dir", metavar="DIR",
                   help="where the verified pg_dump goes (default: zero.backup.dir of the "
                        "profile, else DIR/backups under --evidence-dir)")
    z.add_argument("--confirm", metavar="ELECTION_ID",
                   help="the election id, typed to confirm (prompted for on a terminal)")
    z.add_argument("--dry-run", action="store_true",
                   help="show rows to clear, sequences and a report preview; change nothing")
    z.add_argument("--allow-drift", metavar="REASON",
                   help="zero despite drift from the manifest; REASON is recorded in the evidence")
    z.add_argument("--no-render", action="store_true",
                   help="write the JSON evidence only (render later with freeze zero-report)")
    z.add_argument("--json", action="store_true", help="print the result as JSON")
    z.set_defaults(handler=_cmd_zero)

    r = sub.add_parser("zero-report", help="render a zero report JSON as HTML and PDF",
                       description="Check a zero-report JSON and render the printable report "
                                   "(HTML and PDF, with the digest in full and in a QR code).")
    r.add_argument("report", metavar="ZERO-REPORT.json")
    r.add_argument("--output-dir", "-d", "-o", required=True, metavar="DIR",
                   help="directory for zero-report.html/.pdf (-o is the old spelling: elsewhere -o is a file)")
    r.add_argument("--format", choices=("html", "pdf", "both"), default="both")
    r.add_argument("--json", action="store_true", help="print the written files as JSON")
    r.set_defaults(handler=_cmd_zero_report)


def _zero_confirm(args: argparse.Namespace, election_id: str, database: str) -> str:
    """The typed confirmation: --confirm, else a prompt on a terminal; how it was given."""
    from freeze.zero.gate import check_confirmation, confirmation_required

    if args.confirm is not None:
        typed, how = args.confirm, "--confirm"
    elif sys.stdin.isatty():
        try:
            typed = input(f"This clears the results of election {election_id} in database "
                          f"{database}. Type the election id to confirm: ")
        except EOFError:
            typed = ""
        how = "typed at the terminal"
    else:
        raise confirmation_required(election_id)
    check_confirmation(typed, election_id)
    return how


def _cmd_zero(args: argparse.Namespace) -> int:
    import json

    from freeze.extras import require_extra

    _one_manifest(args, "manifest_positional", "manifest_option")
    require_extra("psycopg", "postgres")  # before freeze.zero, which is built on it
    from freeze.profile import load_profile
    from freeze.zero import ZeroSession, parse_zero_spec
    from freeze.zero.gate import backup_dir_for, check_drift, dry_run_drift, resolve_dsn

    profile = load_profile(args.profile)
    spec = parse_zero_spec(profile.zero)
    dsn = resolve_dsn(profile, args.profile)
    evidence_dir = Path(args.evidence_dir).resolve()
    backup_dir = backup_dir_for(args.backup_dir, spec, evidence_dir)
    quiet = args.json or not sys.stdout.isatty()
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=False, highlight=False, soft_wrap=True)

    with ZeroSession(dsn, spec) as session:
        pending = session.pending_runs()
        if pending and not args.dry_run:
            # A run committed but crashed before its evidence files were written:
            # finish that job first; it is the zero the operator asked for.
            paths = session.export_pending(evidence_dir)
            recovered = {"recovered": [{"run_id": r.run_id, "evidence": str(p)}
                                       for r, p in zip(pending, paths, strict=True)]}
            if args.json:
                print(json.dumps(recovered, indent=2, sort_keys=True))
            else:
                for r, p in zip(pending, paths, strict=True):
                    console.print(f"zero run {r.run_id} had committed, but its evidence files "
                                  f"were not written (crash or write error); they are now exported "
                                  f"to {escape(str(p))}. The database is zeroed; nothing else "
                                  f"was done.")
            return 0
        if args.dry_run:
            gate = check_drift(profile, args.manifest, args.allow_drift, refuse=False)
            preview = session.preview()
            out = preview.to_dict()
            out["drift"] = dry_run_drift(gate)
            if args.json:
                print(json.dumps(out, indent=2, sort_keys=True, default=str))
                return 0
            from rich.table import Table

            console.print(f"[bold]dry run[/bold]: nothing will be changed. Election "
                          f"{escape(preview.election_id)} ({escape(preview.election_name)}), "
                          f"database {escape(str(preview.database['database']))}")
            console.print("drift: " + ("none" if gate.clean else
                                       f"exit {gate.exit_code} - the zero would be REFUSED"
                                       if gate.allowed_reason is None else
                                       f"exit {gate.exit_code}, allowed: {escape(gate.allowed_reason)}"))
            t = Table(title="would clear")
            for col in ("table", "method", "rows"):
                t.add_column(col, justify="right" if col == "rows" else "left")
            for row in preview.tables:
                t.add_row(row["table"], row["method"], str(row["rows"]))
            console.print(t)
            t = Table(title="would restart sequences")
            for col in ("sequence", "now", "restart at"):
                t.add_column(col)
            for seq in preview.sequences:
                t.add_row(seq["sequence"], f"{seq['last_value']}{'' if seq['is_called'] else ' (unused)'}",
                          str(seq["restart"]))
            console.print(t)
            t = Table(title="zero report preview (current data)")
            for col in ("section", "rows", "non-zero rows"):
                t.add_column(col)
            for s in preview.report.sections:
                t.add_row(escape(s.title), str(len(s.rows)), str(s.nonzero_rows))
            console.print(t)
            for w in preview.warnings:
                console.print(f"[yellow]warning[/yellow]: {escape(w)}")
            console.print("already zero: nothing to clear" if preview.already_zero else
                          f"locks during the zero: {', '.join(preview.locked_tables)}")
            return 0

        gate = check_drift(profile, args.manifest, args.allow_drift)
        how = _zero_confirm(args, spec.election_id, session.identity.database)
        if not quiet:
            console.print(f"zeroing {escape(spec.election_id)}: backing up to "
                          f"{escape(str(backup_dir))} and verifying the restore ...")
        result = session.zero(evidence_dir=evidence_dir, backup_dir=backup_dir, gate=gate,
                              confirmation=how, profile_sha256=profile.digest,
                              render=not args.no_render)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str))
        return 0
    if result.already_zero:
        console.print("[green]already zero[/green]: the database held no results; a new zero "
                      "report was issued and recorded")
    else:
        cleared = ", ".join(f"{c['table']} ({c['rows_before']})" for c in result.cleared)
        console.print(f"[green]zeroed[/green]: cleared {escape(cleared)}")
    console.print(f"backup   {escape(result.backup['path'])}\n"
                  f"         sha256 {result.backup['sha256']} (restore verified)\n"
                  f"report   sha256 {result.report_sha256} (all totals zero)\n"
                  f"evidence {escape(str(result.evidence_path))}")
    return 0


def _cmd_zero_report(args: argparse.Namespace) -> int:
    import json

    from freeze.report.render import render_report_files

    formats = ("html", "pdf") if args.format == "both" else (args.format,)
    done = render_report_files(args.report, args.output_dir, formats)
    if args.json:
        print(json.dumps(done.to_dict(), indent=2))
    else:
        print(f"report sha256 {done.sha256} ({'all totals zero' if done.all_zero else 'NOT ZERO'})")
        if not done.canonical:
            print("note: the input is not in canonical form; the digest is of its canonical form")
        for w in done.files:
            print(f"wrote {w}")
    return 0


# ---------------------------------------------------------------------------
# evidence (ceremony root, signing, timestamps, journal, bundle)
# ---------------------------------------------------------------------------


def _register_evidence(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Ceremony root, statements, signatures, timestamps, journal, bundle, offline verify.

    Imports of freeze.evidence happen inside handlers: `freeze --help` stays fast,
    and `verify-evidence` never loads an HTTP client.
    """

    def passphrase_args(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--passphrase-env", metavar="NAME", help="read the key passphrase from env var NAME")
        g.add_argument("--passphrase-file", metavar="FILE", type=Path, help="read the key passphrase from FILE")

    p = sub.add_parser("keygen", help="create an Ed25519 signing key (passphrase-protected PEM)")
    p.add_argument("key", type=Path, help="private key file to create (KEY.pem; KEY.pub.pem is written too)")
    passphrase_args(p)
    p.add_argument("--unsafe-no-passphrase", action="store_true", help="TESTS ONLY: write the key unencrypted")
    p.set_defaults(handler=_cmd_keygen)

    root = sub.add_parser("root", help="ceremony root: people, roles, keys, thresholds, expiry")
    rsub = root.add_subparsers(dest="root_command", metavar="ACTION", parser_class=type(root), required=True)
    p = rsub.add_parser("init", help="create an unsigned root from a spec file (JSON or YAML)")
    p.add_argument("spec", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--previous", type=Path, help="the current root, when rotating to a new version")
    p.set_defaults(handler=_cmd_root_init)
    p = rsub.add_parser("sign", help="add ONE signature to a root envelope")
    p.add_argument("root", type=Path)
    p.add_argument("--key", type=Path, required=True)
    p.add_argument("--previous", type=Path,
                   help="rotation: the previous root version, whose signers must sign the new one too")
    passphrase_args(p)
    p.set_defaults(handler=_cmd_root_sign)
    p = rsub.add_parser("verify", help="verify root versions from a pinned digest or trusted file")
    p.add_argument("roots", type=Path, nargs="+", help="root envelopes (all versions)")
    _ev_trust_args(p)
    p.set_defaults(handler=_cmd_root_verify)

    p = sub.add_parser("attest", help="create the in-toto statement envelope for a document")
    p.add_argument("document", type=Path)
    p.add_argument("--type", dest="evidence_type", required=True,
                   choices=["manifest", "zero-report", "drift-report", "minutes"])
    p.add_argument("--root", type=Path, required=True, help="the current ceremony root envelope")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--sequence", type=int,
                   help="with --journal: taken from the journal (a different value is refused); "
                        "without: 1 unless given")
    p.add_argument("--supersedes", metavar="SHA256",
                   help="statement digest this one replaces (with --journal: taken from the journal)")
    p.add_argument("--backup", metavar="NAME[=SHA256]",
                   help="zero report: the backup's file name (its digest is taken from the report; "
                        "a digest given here must be the report's)")
    p.add_argument("--journal", type=Path, help="record the statement in this journal")
    p.add_argument("--actor", default="operator", help="who is recording (journal)")
    p.add_argument("--key", type=Path, help="also add the first signature with this key")
    passphrase_args(p)
    p.set_defaults(handler=_cmd_attest)

    p = sub.add_parser("sign", help="add ONE signature to an envelope (payload bytes untouched)",
                       description="Add ONE signature to each envelope given (payload bytes untouched). "
                                   "Several envelopes (e.g. the manifest and the zero report): all are read "
                                   "first, then each is checked and signed in turn with ONE passphrase entry.")
    p.add_argument("envelopes", type=Path, nargs="+", metavar="ENVELOPE")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--key", type=Path, help="Ed25519 PEM or OpenSSH private key")
    g.add_argument("--ssh-signature", type=Path, metavar="FILE.sig",
                   help="an `ssh-keygen -Y sign` signature over the file from `freeze pae`")
    p.add_argument("--root", type=Path, required=True,
                   help="the ceremony root: the signer must be in it, the statement must name this "
                        "ceremony and every signature already present must be valid, before adding")
    p.add_argument("--document", type=Path,
                   help="your own copy of the document: refuse unless the statement names its sha256")
    p.add_argument("--journal", type=Path, help="record the signature in this journal")
    p.add_argument("--actor", default="", help="signer name for the journal")
    passphrase_args(p)
    p.set_defaults(handler=_cmd_sign)

    p = sub.add_parser("merge-signatures",
                       help="add the signatures of copies signed in parallel (same payload bytes only)")
    p.add_argument("envelope", type=Path)
    p.add_argument("copies", type=Path, nargs="+")
    p.set_defaults(handler=_cmd_merge_signatures)

    p = sub.add_parser("remove-signature",
                       help="take a signature out of an envelope by its key id (payload untouched)")
    p.add_argument("envelope", type=Path)
    p.add_argument("--keyid", required=True, help="key id of the signature to remove (as verify-envelope shows)")
    p.set_defaults(handler=_cmd_remove_signature)

    p = sub.add_parser("pae", help="write the exact bytes to sign (for ssh-keygen -Y sign)")
    p.add_argument("envelope", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(handler=_cmd_pae)

    p = sub.add_parser("verify-envelope", help="check one envelope's signatures against a root's threshold")
    p.add_argument("envelope", type=Path)
    p.add_argument("--type", dest="evidence_type", required=True)
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--document", type=Path, help="also check the document digest")
    p.set_defaults(handler=_cmd_verify_envelope)

    p = sub.add_parser("timestamp", help="get RFC 3161 timestamps over an envelope's signatures")
    p.add_argument("envelope", type=Path)
    p.add_argument("--tsa", action="append", required=True, metavar="URL", help="TSA URL (repeatable)")
    p.add_argument("--root", type=Path, help="verify the replies against this root's TSA certificates")
    p.set_defaults(handler=_cmd_timestamp)

    j = sub.add_parser("journal", help="the ceremony journal (Merkle log, checkpoints)")
    jsub = j.add_subparsers(dest="journal_command", metavar="ACTION", parser_class=type(j), required=True)
    p = jsub.add_parser("init", help="create a journal")
    p.add_argument("db", type=Path)
    p.add_argument("--root", type=Path, help="the ceremony root: the origin is taken from it")
    p.add_argument("--origin", help="log origin (checked against --root when both are given)")
    p.set_defaults(handler=_cmd_journal_init)
    p = jsub.add_parser("append", help="record an event")
    p.add_argument("db", type=Path)
    p.add_argument("--actor", required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--file", type=Path, help="file the event is about (its sha256 is recorded)")
    p.add_argument("--sha256", help="digest the event is about")
    p.add_argument("--name", default="", help="name of what the digest is of")
    p.set_defaults(handler=_cmd_journal_append)
    p = jsub.add_parser("checkpoint", help="sign a checkpoint; prints the line for the minutes")
    p.add_argument("db", type=Path)
    p.add_argument("--key", type=Path, required=True, help="the journal log key")
    p.add_argument("-o", "--output", type=Path, help="write the checkpoint note here")
    p.add_argument("--root", type=Path, help="refuse if the journal's origin is not this root's")
    passphrase_args(p)
    p.set_defaults(handler=_cmd_journal_checkpoint)
    p = jsub.add_parser("cosign", help="add a witness cosignature (cosignature/v1) to a checkpoint note")
    p.add_argument("note", type=Path)
    p.add_argument("--key", type=Path, required=True)
    p.add_argument("--as", dest="person", required=True, help="your person id in the ceremony root")
    passphrase_args(p)
    p.set_defaults(handler=_cmd_journal_cosign)
    p = jsub.add_parser("store", help="store a cosigned checkpoint note back into the journal")
    p.add_argument("db", type=Path)
    p.add_argument("note", type=Path)
    p.set_defaults(handler=_cmd_journal_store)

    c = sub.add_parser("ceremony", help="a guided ceremony from a plan file: status, run, sign",
                       description="A guided ceremony from a plan file (the root spec, the evidence, the "
                                   "journal's log key; example: freeze/evidence/ceremony-plan.example.yml). "
                                   "The workstation runs `run` until it says FINISHED; each key holder runs "
                                   "`sign` once (one passphrase entry for everything pending for them).")
    csub = c.add_subparsers(dest="ceremony_command", metavar="ACTION", parser_class=type(c), required=True)
    p = csub.add_parser("status", help="what exists, who has signed what, who is still missing")
    p.add_argument("plan", type=Path, metavar="PLAN")
    p.set_defaults(handler=_cmd_ceremony_status)
    p = csub.add_parser("run", help="do every step the workstation can do now (exit 75: signatures missing)",
                        description="Write the root, journal, statements and checkpoint (the log key's "
                                    "passphrase); once every threshold is met: timestamps, the stored "
                                    "checkpoint, the bundle and its verification with the auditor's report. "
                                    "Safe to run again: the state is in the plan's directory.")
    p.add_argument("plan", type=Path, metavar="PLAN")
    p.add_argument("--wait", type=int, default=0, metavar="SECONDS",
                   help="stay until every signature is in (the room's screen shows who is still missing), "
                        "then finish; give up after SECONDS (exit 75)")
    p.add_argument("--no-timestamps", action="store_true", help="skip the root's TSAs (a rehearsal offline)")
    p.add_argument("--no-pdf", action="store_true", help="the auditor's report as HTML only")
    passphrase_args(p)
    p.set_defaults(handler=_cmd_ceremony_run)
    p = csub.add_parser("sign", help="sign everything pending for this key's owner with one passphrase entry",
                        description="Check every item pending for the key's owner (ceremony binding, "
                                    "evidence type, document and backup digests, signatures present, "
                                    "checkpoint origin and log signature), show them, ask the passphrase "
                                    "once, and sign them all, or nothing if any check fails.")
    p.add_argument("plan", type=Path, metavar="PLAN")
    p.add_argument("--key", type=Path, required=True, help="your Ed25519 PEM or OpenSSH private key")
    passphrase_args(p)
    p.set_defaults(handler=_cmd_ceremony_sign)

    b = sub.add_parser("bundle", help="assemble the evidence bundle")
    bsub = b.add_subparsers(dest="bundle_command", metavar="ACTION", parser_class=type(b), required=True)
    p = bsub.add_parser("create", help="write the bundle directory (and optionally a .tar)")
    p.add_argument("output", type=Path)
    p.add_argument("--root", type=Path, action="append", required=True, help="root envelope (every version)")
    p.add_argument("--statement", action="append", default=[], metavar="TYPE=ENVELOPE:DOCUMENT")
    p.add_argument("--journal", type=Path, required=True)
    p.add_argument("--backup", metavar="NAME=SHA256",
                   help="optional: the backup comes from the signed zero-report statement; "
                        "a different one given here is refused")
    p.add_argument("--tar", action="store_true")
    p.set_defaults(handler=_cmd_bundle_create)

    p = sub.add_parser("verify-evidence", help="verify an evidence bundle offline (exit 0 / 8)")
    p.add_argument("bundle", type=Path, help="bundle directory or .tar")
    _ev_trust_args(p)
    p.add_argument("--checkpoint", metavar="'ORIGIN SIZE ROOT'", help="checkpoint line from the paper minutes")
    p.add_argument("--json", action="store_true")
    p.add_argument("--report-dir", type=Path, metavar="DIR",
                   help="also write the auditor's report and the minutes sheet here: "
                        "verification-report.html/.pdf, minutes.html/.pdf")
    p.add_argument("--no-pdf", action="store_true",
                   help="with --report-dir: HTML only (no need for the 'pdf' extra)")
    p.add_argument("--interventions", type=Path, metavar="RECORDS",
                   help="also walk the journal on from the freeze through every witnessed intervention "
                        "in this records directory (freeze intervention): who was present, thresholds")
    p.set_defaults(handler=_cmd_verify_evidence)


def _ev_trust_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--root-pin", metavar="SHA256", help="root digest printed at the ceremony")
    g.add_argument("--root", dest="root_file", type=Path, help="a root file the auditor brings")


def _ev_passphrases(args: argparse.Namespace) -> PassphraseSource:
    from freeze.evidence.keys import PassphraseSource

    return PassphraseSource(env=getattr(args, "passphrase_env", None), file=getattr(args, "passphrase_file", None))


def _cmd_keygen(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import create_key
    from freeze.evidence.keys import public_path_for

    passphrases = None if args.unsafe_no_passphrase else _ev_passphrases(args)
    ref = create_key(args.key, passphrases, unsafe_unencrypted=args.unsafe_no_passphrase)
    print(f"wrote {args.key} (private, mode 0600) and {public_path_for(args.key)}")
    print(f"public key: ed25519 {ref.to_dict()['public']}  identity {ref.identity}")
    return 0


def _cmd_root_init(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import init_root

    root = init_root(args.spec, args.output, previous=args.previous)
    print(f"wrote {args.output}: root v{root.version} for {root.election}/{root.ceremony}")
    print(f"ROOT DIGEST (write it in the minutes): sha256:{root.digest}")
    return 0


def _cmd_root_sign(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import sign_root

    signed = sign_root(args.root, args.key, _ev_passphrases(args), previous=args.previous)
    print(f"signed root v{signed.version} as {signed.person} ({signed.signatures} signature(s))")
    return 0


def _cmd_root_verify(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import verify_roots

    report = verify_roots(args.roots, pin=args.root_pin, trusted_file=args.root_file)
    for note in report.notes:
        _ev_line(True, note)
    root = report.root
    if not report.ok:
        _ev_line(False, f"{report.freshness.text} (this computer's clock; "
                        "verify-evidence judges expiry at the evidence's trusted time)")
        _ev_line(False, "NOT VERIFIED", prefix=False)
        return EXIT_VERIFY_FAILED
    _ev_line(True, f"{report.freshness.text} (this computer's clock)")
    print(f"VERIFIED: root v{root.version} sha256:{root.digest}")
    return EXIT_OK


def _cmd_attest(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import attest

    done = attest(args.document, args.evidence_type, root=args.root, output=args.output,
                  sequence=args.sequence, supersedes=args.supersedes, backup=args.backup,
                  journal=args.journal, actor=args.actor, key=args.key,
                  passphrases=_ev_passphrases(args))
    if done.journal_position is not None:
        print(f"recorded in journal {args.journal} at #{done.journal_position}")
    print(f"wrote {args.output}: {args.evidence_type} statement for {args.document.name} "
          f"(sha256:{done.document_sha256}), {len(done.envelope.signatures)} signature(s)")
    print(f"statement digest: sha256:{done.statement_sha256}")
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from freeze.durable import atomic_write
    from freeze.evidence.ceremony import add_signature, open_for_signing, record_signature
    from freeze.evidence.keys import load_signer

    if (args.document or args.ssh_signature) and len(args.envelopes) > 1:
        raise UsageError("--document and --ssh-signature belong to one envelope: give one envelope with them")
    targets = [open_for_signing(e) for e in args.envelopes]  # every envelope readable before any signing
    for target in targets:
        about = target.describe()
        if about is not None:
            print(_ev_printable(about))
    signer = load_signer(args.key, _ev_passphrases(args)) if args.key else None  # one passphrase entry
    if len(targets) > 1:
        # all or nothing: every envelope is checked and signed in memory before the first write
        # (a refusal of the third used to leave the first two signed)
        signed = [add_signature(t, root=args.root, signer=signer, write=False) for t in targets]
        for target, added in zip(targets, signed, strict=True):
            atomic_write(target.path, added.envelope)
            if args.journal:
                print(f"recorded in journal {args.journal} at #"
                      f"{record_signature(args.journal, target, added, actor=args.actor)}")
            print(f"{target.path}: added signature by key {added.identity}; {added.signatures} signature(s) now")
        return 0
    for target in targets:
        added = add_signature(target, key=None, passphrases=None, signer=signer,
                              ssh_signature=args.ssh_signature, root=args.root,
                              document=args.document, journal=args.journal, actor=args.actor)
        if added.journal_position is not None:
            print(f"recorded in journal {args.journal} at #{added.journal_position}")
        print(f"{target.path}: added signature by key {added.identity}; {added.signatures} signature(s) now")
    return 0


def _cmd_merge_signatures(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import merge_signatures

    merged = merge_signatures(args.envelope, args.copies)
    print(f"added {merged.added} signature(s); {merged.signatures} in {args.envelope} (not verified here: "
          "use verify-envelope)")
    return 0


def _cmd_remove_signature(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import remove_signature

    done = remove_signature(args.envelope, args.keyid)
    print(f"removed {done.removed} signature(s) with key id {_ev_printable(args.keyid)}; "
          f"{done.signatures} left in {args.envelope}")
    return 0


def _cmd_pae(args: argparse.Namespace) -> int:
    from freeze.evidence import sshsig
    from freeze.evidence.ceremony import write_pae

    write_pae(args.envelope, args.output)
    print(f"wrote {args.output}; sign it with:")
    print(f"  ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n {sshsig.NAMESPACE} {args.output}")
    print(f"then: freeze sign {args.envelope} --ssh-signature {args.output}.sig --root ROOT.json")
    return 0


def _cmd_verify_envelope(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import verify_envelope

    report = verify_envelope(args.envelope, args.evidence_type, root=args.root, document=args.document)
    for check in report.checks:
        _ev_line(check.ok, check.text)
    _ev_line(report.ok, "VERIFIED" if report.ok else "NOT VERIFIED", prefix=False)
    return EXIT_OK if report.ok else EXIT_VERIFY_FAILED


def _cmd_timestamp(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import TimestampVerified, timestamp_envelope

    def announce(v: TimestampVerified) -> None:
        print(f"signature #{v.signature_index}: {v.tsa} {v.time.isoformat()}")

    done = timestamp_envelope(args.envelope, args.tsa, root=args.root, on_verified=announce)
    print(f"wrote {done.sidecar} ({done.records} timestamp(s))")
    return 0


def _cmd_journal_init(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import init_journal

    origin = init_journal(args.db, args.origin, root=args.root)
    print(f"created journal {args.db} (origin {origin})")
    return 0


def _cmd_journal_append(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import record_event

    pos = record_event(args.db, actor=args.actor, event=args.event, file=args.file,
                       sha256=args.sha256 or "", name=args.name)
    print(f"recorded #{pos}")
    return 0


def _ceremony_plan(args: argparse.Namespace) -> Plan:
    from freeze.evidence.plan import load_plan

    return load_plan(args.plan)


def _print_status(st: Status) -> None:
    for step in st.steps:
        _ev_line(step.done, f"{step.name}: {step.text}")
    for person, types in sorted(st.missing.items()):
        print(_ev_printable(f"  waiting for {person}: {', '.join(types)}"))


def _cmd_ceremony_status(args: argparse.Namespace) -> int:
    from freeze.evidence.guided import status

    st = status(_ceremony_plan(args))
    _print_status(st)
    return EXIT_OK if st.signed else EXIT_WAITING


def _cmd_ceremony_run(args: argparse.Namespace) -> int:
    import time

    from freeze.evidence.guided import advance

    plan = _ceremony_plan(args)
    deadline = time.monotonic() + max(args.wait, 0)
    shown: object = None
    while True:
        done = advance(plan, _ev_passphrases(args), tsa=not args.no_timestamps, pdf=not args.no_pdf)
        for line in done.done:
            print(_ev_printable(f"done: {line}"), flush=True)
        if done.finished:
            break
        if done.status.missing != shown:  # print the room's state when it changes
            shown = done.status.missing
            _print_status(done.status)
            print(f"WAITING: each key holder runs `freeze ceremony sign {args.plan} --key THEIR_KEY` "
                  "(one passphrase entry each)" + ("" if args.wait else "; then run this again"), flush=True)
        if time.monotonic() >= deadline:
            return EXIT_WAITING
        time.sleep(1)
    for line in done.report:
        _ev_line(line.startswith("ok"), line[5:])
    _ev_line(done.verified, f"{done.bundle}: " + ("VERIFIED" if done.verified else "NOT VERIFIED"), prefix=False)
    print("for the minutes:")
    print(f"  ROOT DIGEST  sha256:{done.root_digest}")
    print(f"  BUNDLE       sha256:{done.bundle_digest}  (sha256 of SHA256SUMS)")
    if done.tar_sha256:
        print(f"  TAR          sha256:{done.tar_sha256}")
    if done.checkpoint_line:
        print(f"  CHECKPOINT   {done.checkpoint_line}")
    for path in done.written:
        print(f"report: {path}")
    if done.verified:
        print("FINISHED")
    return EXIT_OK if done.verified else EXIT_VERIFY_FAILED


def _cmd_ceremony_sign(args: argparse.Namespace) -> int:
    from freeze.evidence.guided import sign

    def show(lines: list[str]) -> None:
        for line in lines:
            print(_ev_printable(line))

    signed = sign(_ceremony_plan(args), args.key, _ev_passphrases(args), show=show)
    if not signed.items:
        print(_ev_printable(f"nothing pending for {signed.name} ({signed.person}, {signed.role})"))
        return EXIT_OK
    print(_ev_printable(f"signed as {signed.name} ({signed.person}, {signed.role}): "
                        + ", ".join(i.what for i in signed.items)))
    return EXIT_OK


def _cmd_journal_checkpoint(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import sign_checkpoint

    checkpoint = sign_checkpoint(args.db, args.key, _ev_passphrases(args), args.output, root=args.root)
    print(checkpoint.short())
    return 0


def _cmd_journal_cosign(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import cosign_checkpoint

    note = cosign_checkpoint(args.note, args.person, args.key, _ev_passphrases(args))
    print(f"cosigned {args.note} as {args.person} ({len(note.signatures)} signature line(s))")
    return 0


def _cmd_journal_store(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import store_checkpoint

    store_checkpoint(args.db, args.note)
    print(f"stored {args.note} in {args.db}")
    return 0


def _cmd_bundle_create(args: argparse.Namespace) -> int:
    from freeze.evidence.ceremony import create_bundle

    out = create_bundle(args.output, roots=args.root, statements=args.statement,
                        journal=args.journal, backup=args.backup, make_tar=args.tar)
    print(f"wrote evidence bundle {out}")
    return 0


def _cmd_verify_evidence(args: argparse.Namespace) -> int:
    import json

    from freeze.evidence.ceremony import verify_evidence

    if args.report_dir and not args.no_pdf:  # say it before verifying, not after
        from freeze.extras import require_extra

        require_extra("weasyprint", "pdf")
    report = verify_evidence(args.bundle, root_pin=args.root_pin, root_file=args.root_file,
                             checkpoint=args.checkpoint, report_dir=args.report_dir,
                             pdf=not args.no_pdf, interventions=args.interventions)
    written = [str(p) for p in report.facts.get("written", [])]
    if args.json:
        out = report.to_dict()
        if written:
            out["written"] = written
        print(json.dumps(out, indent=2))
    else:
        for c in report.checks:
            _ev_line(c.ok, f"{c.name}: {c.detail}")
        failed = sum(not c.ok for c in report.checks)
        _ev_line(report.ok, "VERDICT: VERIFIED" if report.ok else f"VERDICT: NOT VERIFIED ({failed} check(s) failed)",
                 prefix=False)
        for w in written:
            print(f"wrote {_ev_printable(w)}")
    return EXIT_OK if report.ok else EXIT_VERIFY_FAILED


def _ev_printable(text: str) -> str:
    """Escape control and format characters (ESC, newline, bidi overrides) visibly.

    File names, key ids and document names come from the evidence: printed raw they
    could erase or conceal lines, or print a fake verdict, on the reader's terminal.
    """
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _ev_line(ok: bool, text: str, *, prefix: bool = True) -> None:
    """One check per line: green PASS / red FAIL on a terminal, plain text otherwise, never wrapped."""
    from rich.console import Console
    from rich.text import Text

    text = _ev_printable(text)
    line = Text()
    if prefix:
        line.append("PASS  " if ok else "FAIL  ", style="bold green" if ok else "bold red")
        line.append(text)
    else:
        line.append(text, style="bold green" if ok else "bold red")
    Console(highlight=False, soft_wrap=True).print(line)


# ---------------------------------------------------------------------------
# intervention (witnessed changes after the freeze) and incidents
# ---------------------------------------------------------------------------


def _register_intervention(sub: argparse._SubParsersAction[_Parser]) -> None:
    """`freeze intervention run|close|check` and `freeze incidents import|ack|answer|report`."""

    def passphrase_args(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--passphrase-env", metavar="NAME",
                       help="read the journal log key's passphrase from env var NAME")
        g.add_argument("--passphrase-file", metavar="FILE", type=Path,
                       help="read the journal log key's passphrase from FILE")

    i = sub.add_parser("intervention", help="a witnessed change to frozen hosts: check, run, close",
                       description="A witnessed change to frozen hosts from a plan file: each host is verified "
                                   "against its signed reference first, the change runs with its full log, new "
                                   "manifests are taken, and a signed record with the drift (declared and "
                                   "undeclared) is journaled.")
    isub = i.add_subparsers(dest="intervention_command", metavar="ACTION", parser_class=type(i), required=True)
    p = isub.add_parser("run", help="verify the hosts, run the change, record it (exit 9 refused, 1/2/4 undeclared)")
    p.add_argument("plan", type=Path, metavar="PLAN.yml")
    passphrase_args(p)
    p.set_defaults(handler=_cmd_intervention_run)
    p = isub.add_parser("close", help="threshold met and checkpoint cosigned: the new manifests become the reference")
    p.add_argument("plan", type=Path, metavar="PLAN.yml")
    p.set_defaults(handler=_cmd_intervention_close)
    p = isub.add_parser("check", help="verify the plan's hosts against their current signed reference (drift)")
    p.add_argument("plan", type=Path, metavar="PLAN.yml")
    p.add_argument("--json", action="store_true", help="print the drift reports as JSON")
    p.set_defaults(handler=_cmd_intervention_check)

    inc = sub.add_parser("incidents", help="the incident record: import alerts, acknowledge, answer, report")
    nsub = inc.add_subparsers(dest="incidents_command", metavar="ACTION", parser_class=type(inc), required=True)
    p = nsub.add_parser("import", help="add alerts (Alertmanager /api/v2/alerts JSON or a YAML list) to the record")
    p.add_argument("record", type=Path, metavar="INCIDENTS.json", help="the incident record (created if missing)")
    p.add_argument("alerts", type=Path, metavar="ALERTS")
    p.add_argument("--format", choices=["alertmanager", "yaml"], default="alertmanager")
    p.add_argument("--election", default="", help="election id, when the record is created")
    p.set_defaults(handler=_cmd_incidents_import)
    p = nsub.add_parser("ack", help="record who acknowledged an incident and when")
    p.add_argument("record", type=Path, metavar="INCIDENTS.json")
    p.add_argument("incident", metavar="ID", help="I-NNNN or the alert fingerprint")
    p.add_argument("--by", required=True, help="who acknowledged it")
    p.add_argument("--at", default=None, help="when (default: now), e.g. 2026-11-29T21:05:00Z")
    p.set_defaults(handler=_cmd_incidents_ack)
    p = nsub.add_parser("answer", help="record the directorate's answer to an incident")
    p.add_argument("record", type=Path, metavar="INCIDENTS.json")
    p.add_argument("incident", metavar="ID", help="I-NNNN or the alert fingerprint")
    p.add_argument("--status", required=True,
                   choices=["explained", "false-positive", "escalated", "led-to-intervention"])
    p.add_argument("--explanation", required=True, help="the directorate's explanation")
    p.add_argument("--by", required=True, help="who answers for the directorate")
    p.add_argument("--at", default=None, help="when (default: now)")
    p.add_argument("--intervention", metavar="ID", help="with led-to-intervention: the intervention's id")
    p.add_argument("--records", type=Path, metavar="DIR",
                   help="the interventions' records directory: the record must exist; its digest is kept")
    p.set_defaults(handler=_cmd_incidents_answer)
    p = nsub.add_parser("report", help="write the monitoring report (JSON, HTML, PDF) and journal its digest")
    p.add_argument("record", type=Path, metavar="INCIDENTS.json")
    p.add_argument("-d", "--output-dir", type=Path, required=True, metavar="DIR")
    p.add_argument("--title", default="Monitoring report: incidents during the count")
    p.add_argument("--no-pdf", action="store_true", help="HTML only (no need for the 'pdf' extra)")
    p.add_argument("--journal", type=Path, help="record the report's sha256 in this journal")
    p.add_argument("--actor", default="operator", help="who records it (journal)")
    p.set_defaults(handler=_cmd_incidents_report)


def _cmd_intervention_run(args: argparse.Namespace) -> int:
    from freeze.errors import EXIT_REFUSED
    from freeze.intervention.plan import load_plan
    from freeze.intervention.record import describe_split
    from freeze.intervention.run import run_intervention

    plan = load_plan(args.plan)
    done = run_intervention(plan, _ev_passphrases(args))
    r = done.record
    print(f"intervention {r['id']} ({r['procedure']}) recorded in {done.directory}")
    print(f"  {r['started']} -> {r['ended']}, change exit status {r['change']['exit_status']}, "
          f"log sha256:{r['change']['log']['sha256']}")
    for host, h in sorted(r["hosts"].items()):
        print(_ev_printable(f"  {host}: before sha256:{h['before']['sha256']} after sha256:{h['after']['sha256']}; "
                            f"{describe_split(h['drift'])}"))
    print(f"  record sha256:{done.record_sha256}, statement sha256:{done.statement_sha256}, "
          f"journal #{done.journal_position}")
    print(f"  checkpoint for the minutes: {done.checkpoint.short()}")
    print("next: each person present signs, witnesses cosign, then close:")
    print(f"  freeze sign {done.directory / 'record.dsse.json'} --key KEY --root {plan.root} "
          f"--document {done.directory / 'record.json'}")
    print(f"  freeze journal cosign {done.directory / 'checkpoint.note'} --key KEY --as PERSON")
    print(f"  freeze intervention close {args.plan}")
    if done.change_status != 0:
        print(f"freeze: error: the change failed (exit {done.change_status}); it is recorded with its log: "
              f"{done.directory / 'change.log'}", file=sys.stderr)
        return EXIT_REFUSED
    if done.undeclared:
        print(f"freeze: the change touched MORE than declared: {done.undeclared} undeclared change(s), "
              "listed in the record", file=sys.stderr)
        code = 0
        for h in r["hosts"].values():
            for item in h["drift"]["undeclared"]:
                code |= {"added": 1, "removed": 2, "changed": 4}[item["category"]]
        return code
    return EXIT_OK


def _cmd_intervention_close(args: argparse.Namespace) -> int:
    from freeze.intervention.plan import load_plan
    from freeze.intervention.run import close_intervention

    done = close_intervention(load_plan(args.plan))
    print(f"{done.directory.name}: " + "; ".join(done.threshold))
    print(f"checkpoint cosigned and stored: {done.checkpoint}")
    for host, digest in sorted(done.reference.items()):
        print(f"{host}: reference is now sha256:{digest}")
    print("CLOSED")
    return EXIT_OK


def _cmd_intervention_check(args: argparse.Namespace) -> int:
    import json

    from freeze.intervention.plan import load_plan
    from freeze.intervention.run import check_hosts

    checks = check_hosts(load_plan(args.plan))
    code = 0
    for c in checks.values():
        code |= c.drift.exit_code
    if args.json:
        print(json.dumps({h: {"reference": c.reference.source, "sha256": c.reference.sha256,
                              "drift": c.drift.to_dict()} for h, c in checks.items()},
                         indent=2, sort_keys=True, default=str))
        return code
    for host, c in sorted(checks.items()):
        n = c.drift.counts()
        state = "clean" if c.drift.is_clean else f"{n['added']} added, {n['removed']} removed, {n['changed']} changed"
        print(_ev_printable(f"{host}: reference sha256:{c.reference.sha256} ({c.reference.source}, signed): {state}"))
        for e in c.drift.entries[:20]:
            attrs = ", ".join(ch.attribute for ch in e.changes)
            print(_ev_printable(f"  {e.category} {e.kind} {e.key}" + (f" ({attrs})" if attrs else "")))
    return code


def _now_text(at: str | None) -> str:
    import datetime as dt

    return at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cmd_incidents_import(args: argparse.Namespace) -> int:
    from freeze.intervention.incidents import IncidentRecord, read_alerts

    alerts = read_alerts(args.alerts, args.format)
    record = IncidentRecord.open(args.record, create=True, election=args.election)
    added = record.add(alerts, source=f"{args.format}:{args.alerts.name}")
    record.save()
    print(f"{args.record}: {added} new incident(s) from {len(alerts)} alert(s); {len(record.incidents)} in all")
    return EXIT_OK


def _cmd_incidents_ack(args: argparse.Namespace) -> int:
    from freeze.intervention.incidents import IncidentRecord

    record = IncidentRecord.open(args.record)
    inc = record.acknowledge(args.incident, by=args.by, at=_now_text(args.at))
    record.save()
    print(_ev_printable(f"{inc['id']} {inc['kind']} on {inc['host']}: acknowledged by {inc['acknowledged']['by']} "
                        f"at {inc['acknowledged']['at']}"))
    return EXIT_OK


def _cmd_incidents_answer(args: argparse.Namespace) -> int:
    from freeze.intervention.incidents import IncidentRecord, intervention_record_digest

    if args.records and not args.intervention:
        raise UsageError("--records goes with --intervention")
    digest = intervention_record_digest(args.records, args.intervention) if args.records else None
    record = IncidentRecord.open(args.record)
    inc = record.answer(args.incident, status=args.status, explanation=args.explanation, by=args.by,
                        at=_now_text(args.at), intervention=args.intervention, intervention_record_sha256=digest)
    record.save()
    print(_ev_printable(f"{inc['id']} {inc['kind']} on {inc['host']}: {args.status}"))
    return EXIT_OK


def _cmd_incidents_report(args: argparse.Namespace) -> int:
    from freeze.intervention import monitoring_report
    from freeze.intervention.incidents import IncidentRecord

    if not args.no_pdf:
        from freeze.extras import require_extra

        require_extra("weasyprint", "pdf")
    record = IncidentRecord.open(args.record)
    done = monitoring_report.write(record, args.output_dir, title=args.title, pdf=not args.no_pdf)
    for f in done.files:
        print(f"wrote {f}")
    t = done.report["totals"]
    print(f"{t['incidents']} incident(s), {t['answered']} answered, {t['unanswered']} unanswered; "
          f"report sha256:{done.sha256}")
    if args.journal:
        from freeze.evidence.journal import Journal

        pos = Journal.open(args.journal).append(
            actor=args.actor, event="monitoring-report", subject_name="monitoring-report.json",
            subject_sha256=done.sha256, details={"incidents": t["incidents"], "unanswered": t["unanswered"],
                                                 "per_answer": done.report["per_answer"]})
        print(f"recorded in journal {args.journal} at #{pos}")
    return EXIT_OK


# ---------------------------------------------------------------------------
# replica-check
# ---------------------------------------------------------------------------


def _register_replica(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "replica-check", help="prove a streaming standby matches its primary (WAL + content digests)",
        description="Wait until the standby replayed the primary's WAL (positions equal), then "
                    "compare the catalog, table and row digests freeze snapshot computes on both "
                    "(REPEATABLE READ READ ONLY). The primary is the profile's database; the "
                    "standby DSN comes from an environment variable or an owner-only file, never "
                    "from argv. Exit 0 identical, else the bitmask 1 only on the standby / "
                    "2 missing on the standby / 4 differs or WAL not caught up.")
    p.add_argument("--profile", "-p", required=True, metavar="PROFILE.yml")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--standby-dsn-env", metavar="VAR", help="environment variable holding the standby's DSN")
    g.add_argument("--standby-dsn-file", metavar="FILE", help="owner-only file holding the standby's DSN")
    p.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                   help="how long to wait for the WAL positions to become equal (default 30)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_cmd_replica_check)


def _standby_dsn(args: argparse.Namespace) -> str:
    import os

    from freeze.errors import InputError
    from freeze.inputs import read_owner_only

    if args.standby_dsn_env:
        value = os.environ.get(args.standby_dsn_env, "").strip()
        if not value:
            raise InputError(f"--standby-dsn-env: environment variable {args.standby_dsn_env} "
                             "is not set or empty")
        return value
    try:
        value = read_owner_only(args.standby_dsn_file, "--standby-dsn-file").decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputError(f"--standby-dsn-file: {args.standby_dsn_file}: not UTF-8 text") from None
    if not value:
        raise InputError(f"--standby-dsn-file: {args.standby_dsn_file}: empty")
    return value


def _cmd_replica_check(args: argparse.Namespace) -> int:
    import json

    from freeze.errors import ConfigMismatchError
    from freeze.profile import load_profile
    from freeze.replica import check_replica

    profile = load_profile(args.profile)
    if profile.database is None:
        raise ConfigMismatchError(f"profile {args.profile} has no database section (the primary)")
    report = check_replica(profile.database.resolve_dsn(), _standby_dsn(args), profile.database,
                           wait_seconds=args.wait)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str))
        return report.exit_code
    for line in report.problems():
        _ev_line(False, line)
    w = report.wal
    _ev_line(report.ok, f"replica {report.standby} {'MATCHES' if report.ok else 'DIFFERS FROM'} "
                        f"primary {report.primary}: WAL {w.primary_lsn} / replayed {w.standby_replay_lsn}, "
                        f"{report.tables} tables, {report.rows} rows compared "
                        f"(exit {report.exit_code})", prefix=False)
    return report.exit_code


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------
# profile compose (per-host profiles from the roles' fragments)
# ---------------------------------------------------------------------------


def _register_profile(sub: argparse._SubParsersAction[_Parser]) -> None:
    prof = sub.add_parser("profile", help="per-host freeze profiles: compose one from the roles' fragments")
    psub = prof.add_subparsers(dest="profile_command", metavar="SUBCOMMAND", parser_class=_Parser,
                               required=True)
    p = psub.add_parser("compose", help="the host's profile: the base plus the fragments of its roles",
                        description="Compose the freeze profile of one host from the operator's base "
                                    "profile and the freeze profile fragments "
                                    "(ROLES_DIR/ROLE/meta/freeze_profile.yml) of the roles the playbook "
                                    "applies to it (or --role). The bytes are deterministic: an auditor "
                                    "composes again and compares with the profile recorded at the freeze "
                                    "(--check).")
    p.add_argument("--base", required=True, metavar="PROFILE.yml", help="the operator's base profile")
    p.add_argument("--roles-dir", required=True, metavar="DIR", help="the collection's roles directory")
    p.add_argument("--host", required=True, metavar="NAME", help="the inventory host name")
    p.add_argument("--role", action="append", default=[], metavar="ROLE",
                   help="a role applied to the host (repeat; instead of --playbook)")
    p.add_argument("--playbook", metavar="SITE.yml",
                   help="read the roles applied to the host from this playbook (import_playbook followed)")
    p.add_argument("--inventory", metavar="INVENTORY",
                   help="Ansible inventory: the host's groups (for --playbook) and its values of "
                        "the roles' variables")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--output", "-o", metavar="OUT.yml", help="write the composed profile here")
    out.add_argument("--check", metavar="RECORDED.yml",
                     help="compose and compare with this recorded profile (exit 8 if it differs)")
    p.set_defaults(handler=_cmd_profile_compose)


def _cmd_profile_compose(args: argparse.Namespace) -> int:
    import hashlib

    from freeze.compose import compose_for_host, inventory_view, roles_for_host
    from freeze.durable import atomic_write

    groups: dict[str, list[str]] = {"all": [args.host]}
    hostvars: dict[str, dict[str, object]] = {}
    if args.inventory:
        groups, hostvars = inventory_view(args.inventory)
        if args.host not in groups["all"]:
            raise UsageError(f"{args.inventory}: no host {args.host}")
    if bool(args.playbook) == bool(args.role):
        raise UsageError("give either --playbook (with --inventory) or --role, not both")
    if args.playbook and not args.inventory:
        raise UsageError("--playbook needs --inventory (the host's groups)")
    roles = roles_for_host(args.playbook, args.host, groups) if args.playbook else args.role
    comp = compose_for_host(args.base, args.roles_dir, roles, args.host, hostvars.get(args.host, {}))
    fragments = ", ".join(comp.roles) or "none"
    if args.check:
        from freeze.inputs import read_input

        recorded = read_input(args.check, "profile")
        if recorded != comp.text:
            got = hashlib.sha256(recorded).hexdigest()
            print(f"DIFFERS: {args.check} is sha256:{got}; composing again gives sha256:{comp.sha256} "
                  f"(roles {', '.join(roles) or 'none'}; fragments {fragments})")
            return EXIT_VERIFY_FAILED
        print(f"SAME: {args.check} is the composition for {args.host} (sha256:{comp.sha256}; fragments {fragments})")
        return EXIT_OK
    atomic_write(args.output, comp.text, mode=0o644)
    print(f"wrote {args.output} sha256:{comp.sha256} for {args.host} (roles {', '.join(roles) or 'none'}; "
          f"fragments {fragments})")
    for item in comp.overridden:
        print(f"  the base's entry kept over the role's: {item}")
    return EXIT_OK


# ---------------------------------------------------------------------------


# One example per command, shown under "example:" at the end of its --help
# (tests/unit/test_cli_help.py walks the parser tree and requires one everywhere).
EXAMPLES: dict[str, str] = {
    "snapshot": "freeze snapshot -p profile.yml -o manifest.json",
    "verify": "freeze verify manifest.json -p profile.yml --expect-sha256 sha256:HEX_FROM_THE_MINUTES",
    "zero": "freeze zero -p profile.yml -m manifest.json --evidence-dir ev/ --dry-run",
    "zero-report": "freeze zero-report ev/zero-RUN/zero-report.json -d printed/",
    "replica-check": "freeze replica-check -p profile.yml --standby-dsn-env STANDBY_DSN --wait 60",
    "keygen": "freeze keygen keys/alice.pem",
    "root init": "freeze root init root-spec.yml -o root.json",
    "root sign": "freeze root sign root.json --key keys/alice.pem",
    "root verify": "freeze root verify root.json --root-pin SHA256_FROM_THE_MINUTES",
    "attest": "freeze attest --type manifest manifest.json --root root.json -o manifest.dsse.json "
              "--journal journal.db",
    "sign": "freeze sign manifest.dsse.json zero.dsse.json --key keys/bob.pem --root root.json",
    "merge-signatures": "freeze merge-signatures manifest.dsse.json copy-from-carol.dsse.json",
    "remove-signature": "freeze remove-signature manifest.dsse.json --keyid KEYID",
    "pae": "freeze pae manifest.dsse.json -o manifest.pae",
    "profile": "freeze profile compose --base profile.yml --roles-dir roles --role results_website "
               "--host web1 -o web1.yml",
    "profile compose": "freeze profile compose --base profile.yml --roles-dir roles --playbook playbooks/site.yml "
                       "--inventory hosts.yml --host web1 -o web1.yml",
    "verify-envelope": "freeze verify-envelope manifest.dsse.json --type manifest --root root.json",
    "timestamp": "freeze timestamp manifest.dsse.json --tsa https://tsa.example/tsr --root root.json",
    "root": "freeze root init root-spec.yml -o root.json",
    "journal": "freeze journal checkpoint journal.db --key keys/log.pem -o cp.note --root root.json",
    "bundle": "freeze bundle create evidence/ --root root.json --statement manifest=manifest.dsse.json:manifest.json "
              "--journal journal.db --tar",
    "journal init": "freeze journal init journal.db --root root.json",
    "journal append": "freeze journal append journal.db --actor alice --event ceremony-open --file root.json",
    "journal checkpoint": "freeze journal checkpoint journal.db --key keys/log.pem -o cp.note --root root.json",
    "journal cosign": "freeze journal cosign cp.note --key keys/dave.pem --as dave",
    "journal store": "freeze journal store journal.db cp.note",
    "bundle create": "freeze bundle create evidence/ --root root.json "
                     "--statement manifest=manifest.dsse.json:manifest.json --journal journal.db --tar",
    "ceremony": "freeze ceremony run ceremony-plan.yml",
    "ceremony status": "freeze ceremony status ceremony-plan.yml",
    "ceremony run": "freeze ceremony run ceremony-plan.yml --wait 3600",
    "ceremony sign": "freeze ceremony sign ceremony-plan.yml --key keys/bob.pem",
    "verify-evidence": "freeze verify-evidence evidence.tar --root-pin SHA256 --checkpoint 'ORIGIN SIZE ROOT' "
                       "--report-dir report/",
    "intervention": "freeze intervention run intervention-plan.yml --passphrase-env FREEZE_LOG_PASS",
    "intervention run": "freeze intervention run intervention-plan.yml --passphrase-env FREEZE_LOG_PASS",
    "intervention close": "freeze intervention close intervention-plan.yml",
    "intervention check": "freeze intervention check intervention-plan.yml",
    "incidents": "freeze incidents import incidents.json alerts.json --format alertmanager",
    "incidents import": "freeze incidents import incidents.json alerts.json --format alertmanager --election GE-2026",
    "incidents ack": "freeze incidents ack incidents.json I-0001 --by 'IT on duty'",
    "incidents answer": "freeze incidents answer incidents.json I-0001 --status false-positive "
                        "--explanation 'probe timeout during a planned reload' --by 'IT directorate'",
    "incidents report": "freeze incidents report incidents.json -d monitoring/ --journal journal.db",
}


def subcommands(parser: argparse.ArgumentParser, path: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command parser by its path ("journal cosign"), groups included."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                full = f"{path} {name}".strip()
                found[full] = child
                found.update(subcommands(child, full))
    return found


def _finish_help(parser: argparse.ArgumentParser) -> None:
    """Description defaults to the one-line help; each leaf command gets its example."""
    helps: dict[str, str] = {}

    def collect(p: argparse.ArgumentParser, path: str) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    helps[f"{path} {choice.dest}".strip()] = choice.help or ""
                for name, child in action.choices.items():
                    collect(child, f"{path} {name}".strip())

    collect(parser, "")
    for path, p in subcommands(parser).items():
        line = helps.get(path, "")
        if line and not p.description:
            p.description = line[0].upper() + line[1:] + "."
        elif line and p.description and not p.description.startswith(line[0].upper() + line[1:]):
            p.description = f"{line[0].upper() + line[1:]}. {p.description}"
        if path in EXAMPLES:
            p.epilog = f"example:\n  {EXAMPLES[path]}"
            p.formatter_class = _HelpFormatter


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="freeze",
        description=(
            "Snapshot, verify, zero and sign the state of an election's counting system. "
            "Exit status: 0 clean; 1/2/4 bitmask of added/removed/changed on drift; "
            "8 evidence did not verify; 9 refused; 64+ errors (see README)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"freeze {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback on internal errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _register_snapshot(sub)
    _register_zero(sub)
    _register_replica(sub)
    _register_evidence(sub)
    _register_intervention(sub)
    _register_profile(sub)
    _finish_help(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except FreezeError as exc:
        print(f"freeze: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("freeze: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, no traceback
        if args.debug:
            raise
        print(
            f"freeze: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_SOFTWARE
