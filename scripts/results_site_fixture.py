#!/usr/bin/env python3
"""Write the results website's fixture pages (roles/results_website/files/site/).

The lab serves these static pages from results-tx. Their shape follows the
reference counting database (freeze/refdb: election GE-2026, departments as the
second territorial level, a presidential contest with candidates of parties, votes
per candidate, blank and null votes, tally sheets counted out of the total); the
numbers are derived from a seed with SHA-256, so the output is byte-for-byte the
same on every run and needs no PostgreSQL server.

  scripts/results_site_fixture.py            rewrite the committed pages
  scripts/results_site_fixture.py --check    exit 1 if they are not current
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "roles" / "results_website" / "files" / "site"

# Same constants as freeze/refdb/build.py (not imported: that module needs psycopg).
ELECTION_CODE = "GE-2026"
ELECTION_NAME = "General Elections 2026"
SEED = 2026
DEPARTMENTS = ["La Paz", "Santa Cruz", "Cochabamba", "Oruro", "Potosi", "Tarija", "Chuquisaca", "Beni", "Pando"]
PARTIES = [("ALZ", "Alianza Popular"), ("FRN", "Frente Nacional"), ("MVD", "Movimiento Verde"),
           ("UNC", "Union Ciudadana"), ("PDR", "Partido Democratico Regional")]


def _n(*key: object, mod: int) -> int:
    digest = hashlib.sha256(("|".join(map(str, (SEED, *key)))).encode()).digest()
    return int.from_bytes(digest[:8], "big") % mod


def results() -> dict[str, object]:
    departments = []
    for i, name in enumerate(DEPARTMENTS, start=1):
        sheets_total = 500 + _n("sheets", i, mod=4000)
        counted = sheets_total - _n("pending", i, mod=sheets_total // 5)
        votes = [{"party": acr, "candidate_ballot_position": p,
                  "votes": 1000 + _n("votes", i, acr, mod=90_000)} for p, (acr, _) in enumerate(PARTIES, start=1)]
        departments.append({"id": 100 + i, "code": f"D{i:02d}", "name": name,
                            "tally_sheets_total": sheets_total, "tally_sheets_counted": counted,
                            "blank_votes": _n("blank", i, mod=5000), "null_votes": _n("null", i, mod=7000),
                            "votes": votes})
    return {"election": {"code": ELECTION_CODE, "name": ELECTION_NAME, "contest": "president"},
            "parties": [{"acronym": a, "name": n} for a, n in PARTIES], "departments": departments}


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/style.css?v=1"><link rel="icon" href="/assets/favicon.svg">
<script src="/assets/results.js?v=1" defer></script></head><body>
<header><h1>{title}</h1><nav><a href="/">National</a> | \
<a href="/results.json?contest=president&amp;format=json">Open data (JSON)</a></nav></header>
"""


def _table(rows: list[tuple[str, int]], total: int) -> str:
    out = ["<table><thead><tr><th>Party</th><th>Votes</th><th>%</th></tr></thead><tbody>"]
    for acr, votes in rows:
        out.append(f"<tr><td>{html.escape(acr)}</td><td>{votes}</td><td>{100 * votes / total:.2f}</td></tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def pages() -> dict[str, str]:
    data = results()
    deps = data["departments"]
    assert isinstance(deps, list)
    files: dict[str, str] = {}
    nat = {a: sum(v["votes"] for d in deps for v in d["votes"] if v["party"] == a) for a, _ in PARTIES}
    total = sum(nat.values())
    body = [_HEAD.format(title=f"{ELECTION_NAME} - president - national results"),
            "<main>", _table(sorted(nat.items(), key=lambda kv: -kv[1]), total), "<h2>Departments</h2><ul>"]
    for d in deps:
        link = f'/department/{d["code"].lower()}.html?contest=president&amp;sort=votes&amp;page=1'
        body.append(f'<li><a href="{link}">'
                    f'{html.escape(d["name"])}</a> '
                    f'({d["tally_sheets_counted"]}/{d["tally_sheets_total"]} tally sheets)</li>')
    body.append("</ul></main></body></html>\n")
    files["index.html"] = "\n".join(body)
    for d in deps:
        rows = [(v["party"], v["votes"]) for v in d["votes"]]
        t = sum(v for _, v in rows)
        files[f"department/{d['code'].lower()}.html"] = "\n".join([
            _HEAD.format(title=f"{ELECTION_NAME} - {html.escape(d['name'])}"), "<main>", _table(rows, t),
            f"<p>Blank {d['blank_votes']}, null {d['null_votes']}; tally sheets counted "
            f"{d['tally_sheets_counted']} of {d['tally_sheets_total']}.</p></main></body></html>\n"])
    files["results.json"] = json.dumps(data, indent=1, sort_keys=True) + "\n"
    files["assets/style.css"] = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                                 "td,th{border:1px solid #999;padding:.2em .6em;text-align:right}\n")
    files["assets/results.js"] = ("// progressive enhancement only: highlight the leading row\n"
                                  "document.querySelectorAll('tbody tr:first-child')"
                                  ".forEach(r => r.className = 'lead');\n")
    files["assets/favicon.svg"] = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
                                   '<rect width="16" height="16" fill="#036"/></svg>\n')
    files["robots.txt"] = "User-agent: *\nAllow: /\n"
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    want = pages()
    if args.check:
        stale = [p for p, c in want.items() if not (args.out / p).is_file() or (args.out / p).read_text() != c]
        have = [str(p.relative_to(args.out)) for p in args.out.rglob("*") if p.is_file()]
        extra = sorted(p for p in have if p not in want)
        if stale or extra:
            print(f"results site fixture not current: stale {stale}, extra {extra}", file=sys.stderr)
            return 1
        return 0
    for path, content in want.items():
        (args.out / path).parent.mkdir(parents=True, exist_ok=True)
        (args.out / path).write_text(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
