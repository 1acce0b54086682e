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
    pass


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
