"""Every command's --help: a one-line description, an example, consistent option names."""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex

import pytest

from freeze.cli import EXAMPLES, build_parser, main, subcommands

PARSER = build_parser()
COMMANDS = subcommands(PARSER)


def test_the_tree_has_every_command() -> None:
    assert {"snapshot", "verify", "zero", "journal cosign", "verify-evidence", "root init"} <= set(COMMANDS)
    assert len(COMMANDS) >= 25
    assert set(EXAMPLES) == set(COMMANDS), "an example per command, and none for a command that is gone"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_description_and_example(path: str) -> None:
    p = COMMANDS[path]
    assert p.description and p.description[0].isupper(), path
    first = p.description.split(". ")[0]
    assert len(first) < 110 and "\n" not in first, f"{path}: first sentence is the one-line description"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([*path.split(), "--help"])
    text = out.getvalue()
    assert "\nexample:\n  freeze " in text, path
    example = text.split("\nexample:\n  ", 1)[1].splitlines()[0]
    assert example == EXAMPLES[path], f"{path}: the example is printed whole on one line"
    # the example parses (names only options the command has)
    args = PARSER.parse_args(shlex.split(example)[1:])
    assert getattr(args, "handler", None) is not None or path in {"root", "journal", "bundle"}


def _options(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in p._actions for s in a.option_strings}


def test_minus_o_is_a_file_everywhere_but_its_old_directory_alias() -> None:
    for path, p in COMMANDS.items():
        o = _options(p).get("-o")
        if o is None:
            continue
        if path == "zero-report":  # kept for old scripts; -d/--output-dir is the name shown first
            assert o.option_strings[0] == "--output-dir" and "-d" in o.option_strings
            continue
        assert "--output" in o.option_strings and "DIR" not in str(o.metavar or ""), path


def test_the_manifest_is_spelled_the_same_in_verify_and_zero() -> None:
    for path in ("verify", "zero"):
        opts = _options(COMMANDS[path])
        assert "--manifest" in opts and "-m" in opts, path
        positional = [a for a in COMMANDS[path]._actions if not a.option_strings and a.metavar == "MANIFEST"]
        assert positional, f"{path}: MANIFEST also positional"
    a = PARSER.parse_args(["verify", "m.json", "-p", "p.yml"])
    b = PARSER.parse_args(["verify", "-m", "m.json", "-p", "p.yml"])
    assert (a.manifest, a.manifest_option) == ("m.json", None)
    assert (b.manifest, b.manifest_option) == (None, "m.json")


def test_verify_without_a_manifest_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "-p", "p.yml"]) == 64
    assert "manifest is required" in capsys.readouterr().err
    assert main(["verify", "a.json", "-m", "b.json", "-p", "p.yml"]) == 64
