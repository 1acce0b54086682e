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

from freeze import __version__
from freeze.errors import (
    EXIT_INTERRUPTED,
    EXIT_SOFTWARE,
    EXIT_USAGE,
    FreezeError,
)

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with our exit status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------------------
# snapshot / verify (drift)
# ---------------------------------------------------------------------------


def _register_snapshot(sub: argparse._SubParsersAction) -> None:
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

    snap = sub.add_parser("snapshot", help="snapshot the counting system into a manifest",
                          description="Collect files, packages, services, accounts, network, "
                                      "kernel and database state named by the profile into a "
                                      "canonical JSON manifest.")
    snap.add_argument("--profile", "-p", required=True, metavar="PROFILE.yml")
    snap.add_argument("--output", "-o", required=True, metavar="MANIFEST",
                      help="manifest file to create (refuses to overwrite without --force)")
    snap.add_argument("--force", action="store_true", help="replace an existing manifest")
    snap.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    remote_options(snap)
    snap.set_defaults(handler=_cmd_snapshot)

    ver = sub.add_parser("verify", help="verify the live system against a manifest (drift)",
                         description="Re-collect with the operator's profile and report what "
                                     "was added (1), removed (2) or changed (4); the exit "
                                     "status is the bitmask of the categories found.")
    ver.add_argument("manifest", metavar="MANIFEST")
    ver.add_argument("--profile", "-p", required=True, metavar="PROFILE.yml")
    ver.add_argument("--json", action="store_true", help="print the drift report as JSON")
    ver.add_argument("--limit", type=int, default=200, metavar="N",
                     help="show at most N entries in the human table (default 200)")
    remote_options(ver)
    ver.set_defaults(handler=_cmd_verify)


def _snapshot_transport(args: argparse.Namespace):
    from freeze.errors import UsageError
    from freeze.transport import SSHTarget, SSHTransport

    if not args.host:
        if args.identity or args.known_hosts or args.sudo:
            raise UsageError("--identity/--known-hosts/--sudo need --host")
        return None
    return SSHTransport(SSHTarget.parse(args.host), key_file=args.identity,
                        known_hosts=args.known_hosts, sudo=args.sudo)


def _cmd_snapshot(args: argparse.Namespace) -> int:
    import json
    import os
    import tempfile

    from freeze.collect import take_snapshot
    from freeze.errors import NoInputError, RefusedError
    from freeze.profile import load_profile
    from freeze.progress import scan_progress

    profile = load_profile(args.profile)
    transport = _snapshot_transport(args)
    out = os.path.abspath(args.output)
    if os.path.lexists(out) and not args.force:
        raise RefusedError(f"{args.output}: exists; refusing to overwrite (use --force)")
    if not os.path.isdir(os.path.dirname(out)):
        raise NoInputError(f"{args.output}: directory does not exist")
    with scan_progress("snapshot", None if not args.json else False) as progress:
        manifest = take_snapshot(profile, transport=transport, progress=progress)
    data = manifest.to_bytes()
    # Write to a temporary file in the same directory, fsync, then rename: a crash
    # never leaves a half-written manifest under the final name.
    fd, tmp = tempfile.mkstemp(prefix=".freeze-manifest-", dir=os.path.dirname(out))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    counts = {name: len(entries) for name, entries in sorted(manifest.sections.items())}
    summary = {"manifest": args.output, "sha256": manifest.digest(), "host": manifest.host,
               "profile_sha256": manifest.profile_digest, "entries": counts,
               "unavailable": manifest.unavailable}
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"manifest {args.output}", show_header=True)
    table.add_column("section")
    table.add_column("entries", justify="right")
    for name, n in counts.items():
        table.add_row(name, str(n))
    for name, reason in sorted(manifest.unavailable.items()):
        table.add_row(name, f"[yellow]unavailable: {reason}[/yellow]")
    console.print(table)
    console.print(f"sha256 {manifest.digest()}  host {manifest.host.get('hostname')}",
                  highlight=False, soft_wrap=True)
    return 0


def _short(value: object, width: int = 60) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _cmd_verify(args: argparse.Namespace) -> int:
    import json
    import os

    from freeze.drift import verify
    from freeze.errors import NoInputError
    from freeze.manifest import Manifest
    from freeze.profile import load_profile
    from freeze.progress import scan_progress

    try:
        with open(args.manifest, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise NoInputError(f"{args.manifest}: no such manifest") from None
    except IsADirectoryError:
        raise NoInputError(f"{args.manifest}: is a directory, not a manifest") from None
    except OSError as exc:
        raise NoInputError(f"{args.manifest}: cannot read: {exc.strerror}") from None
    manifest = Manifest.from_bytes(data, source=os.path.basename(args.manifest))
    profile = load_profile(args.profile)
    transport = _snapshot_transport(args)
    with scan_progress("verify", None if not args.json else False) as progress:
        report = verify(manifest, profile, transport=transport, progress=progress)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str))
        return report.exit_code
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    counts = report.counts()
    if report.is_clean:
        console.print(f"[green]clean[/green]: the system matches {escape(args.manifest)} "
                      f"(sha256 {report.manifest_digest[:16]}...)", soft_wrap=True)
    else:
        table = Table(title=f"drift against {args.manifest}", show_lines=False)
        for col in ("category", "kind", "key", "attribute", "old", "new"):
            table.add_column(col, overflow="fold")
        style = {"added": "yellow", "removed": "red", "changed": "magenta"}
        for entry in report.entries[: args.limit]:
            cat = f"[{style[entry.category]}]{entry.category}[/]"
            if not entry.changes:
                table.add_row(cat, entry.kind, escape(entry.key), "", "", "")
            for i, ch in enumerate(entry.changes):
                table.add_row(cat if i == 0 else "", entry.kind if i == 0 else "",
                              escape(entry.key) if i == 0 else "", escape(ch.attribute),
                              escape(_short(ch.old)), escape(_short(ch.new)))
        console.print(table)
        if len(report.entries) > args.limit:
            console.print(f"... {len(report.entries) - args.limit} more (use --json)")
        console.print(f"[bold]drift[/bold]: {counts['added']} added, {counts['removed']} "
                      f"removed, {counts['changed']} changed (exit {report.exit_code})")
    for note in report.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    return report.exit_code


# ---------------------------------------------------------------------------
# zero (backup, clear, zero report)
# ---------------------------------------------------------------------------


def _register_zero(sub: argparse._SubParsersAction) -> None:
    pass


# ---------------------------------------------------------------------------
# evidence (ceremony root, signing, timestamps, journal, bundle)
# ---------------------------------------------------------------------------


def _register_evidence(sub: argparse._SubParsersAction) -> None:
    pass


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


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
    _register_evidence(sub)
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
