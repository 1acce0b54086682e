"""Per-host freeze profiles (freeze/compose.py): fragments, composition, the roles a
playbook applies to a host, and every role's shipped fragment."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
import yaml

from freeze.compose import (
    compose_for_host,
    compose_profile,
    load_fragment,
    parse_fragment,
    render_fragment,
    roles_for_host,
)
from freeze.errors import InputError
from freeze.profile import parse_profile
from tests.integration.test_ceremony import freeze

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
BASE = b"""version: 1
name: base
services:
  known_transient: [a.timer]
paths:
  - path: /etc
    exclude: [/etc/adjtime]
  - /var/log
"""


def frag(role: str, text: str) -> object:
    return parse_fragment(text.encode(), role)


WEB = frag("web", """
paths:
  - path: /var/www
  - {path: /etc/nginx/active.conf, volatility: switch, targets: [a.conf, b.conf]}
services: {known_transient: [revert.timer, revert.service]}
""")
DB = frag("db", """
paths: [{path: /var/lib/postgresql, volatility: excluded}]
kernel: {modules_on_demand: [tcp_diag]}
""")


def test_composition_is_the_union_sorted_and_independent_of_fragment_order() -> None:
    one = compose_profile(BASE, "base.yml", [WEB, DB], host="h1")
    other = compose_profile(BASE, "base.yml", [DB, WEB], host="h1")
    assert one.text == other.text and one.sha256 == hashlib.sha256(one.text).hexdigest()
    p = one.profile
    assert [r.path for r in p.paths] == sorted(r.path for r in p.paths)
    assert {r.path: r.volatility for r in p.paths} == {
        "/etc": "static", "/etc/nginx/active.conf": "switch", "/var/lib/postgresql": "excluded",
        "/var/log": "static", "/var/www": "static"}
    assert p.known_transient == {"a.timer", "revert.timer", "revert.service"}
    assert p.modules_on_demand == {"tcp_diag"}
    assert p.name == "base/h1" and p.rule_for("/etc/adjtime").exclude == ("/etc/adjtime",)
    text = one.text.decode()
    # the header names every input by digest, so an auditor can compose again
    assert f"# base: base.yml sha256:{hashlib.sha256(BASE).hexdigest()}" in text
    assert f"# role fragment: db sha256:{DB.sha256}" in text and f"# role fragment: web sha256:{WEB.sha256}" in text
    # a different host, other roles: other bytes
    assert compose_profile(BASE, "base.yml", [DB], host="h1").text != one.text
    assert compose_profile(BASE, "base.yml", [WEB, DB], host="h2").text != one.text


def test_the_base_wins_over_a_role_and_says_so() -> None:
    base = BASE + b"  - {path: /var/www, volatility: growing}\n"
    comp = compose_profile(base, "base.yml", [WEB])
    assert comp.profile.rule_for("/var/www/index.html").volatility == "growing"
    assert comp.overridden == ("/var/www (web)",)
    assert "# the base's entry kept over the role's: /var/www (web)" in comp.text.decode()
    # the same entry spelled differently is no override
    same = BASE + b"  - {path: /var/www/, volatility: static, recursive: true, exclude: []}\n"
    assert compose_profile(same, "base.yml", [WEB]).overridden == ()


def test_two_fragments_that_disagree_are_an_error_naming_both() -> None:
    other = frag("cache", "paths: [{path: /var/www, volatility: excluded}]")
    with pytest.raises(InputError, match="fragments of cache and web disagree on /var/www"):
        compose_profile(BASE, "base.yml", [WEB, other])
    agreeing = frag("cache", "paths: [/var/www]")
    assert compose_profile(BASE, "base.yml", [WEB, agreeing]).roles == ("cache", "web")
    with pytest.raises(InputError, match="given twice: web"):
        compose_profile(BASE, "base.yml", [WEB, WEB])


def test_the_operator_turning_a_section_off_drops_what_fragments_add_to_it() -> None:
    base = b"version: 1\npaths: [/etc]\nservices: {enabled: false}\nkernel: {modules: false}\n"
    p = compose_profile(base, "base.yml", [WEB, DB]).profile
    assert p.known_transient == frozenset() and p.modules_on_demand == frozenset()
    assert not p.services["enabled"] and not p.kernel["modules"]


def test_the_base_keeps_its_other_sections_and_a_composed_profile_composes_again() -> None:
    base = b"database: {dsn_env: FREEZE_DB_DSN, schemas: [public]}\naccounts: {cron: false}\n" + BASE
    comp = compose_profile(base, "base.yml", [DB], host="h")
    assert comp.profile.database is not None and comp.profile.database.dsn_env == "FREEZE_DB_DSN"
    assert comp.profile.accounts["cron"] is False
    # the composed bytes are a valid profile on their own (what collect and verify read)
    assert parse_profile(comp.text, "x").digest == comp.sha256


@pytest.mark.parametrize("text, message", [
    ("name: web\n", "name: unknown key"),
    ("database: {dsn_env: X}\n", "database: unknown key"),
    ("services: {enabled: false}\n", "services.enabled: unknown key"),
    ("kernel: {sysctls: [a.b]}\n", "kernel.sysctls: unknown key"),
    ("paths: [{path: relative}]\n", r"paths\[0\].path: must be an absolute path"),
    ("paths: [{path: /x, volatility: sometimes}]\n", r"paths\[0\].volatility: must be one of"),
    ("services: {known_transient: [notaunit]}\n", "must end in"),
    ("paths: [/proc/x]\n", "virtual file system"),
    ("[1, 2]\n", "must be a YAML mapping"),
    ("paths: [\n", "invalid YAML"),
])
def test_a_malformed_fragment_is_one_line_naming_the_role_and_key(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        parse_fragment(text.encode(), "web")
    assert str(err.value).startswith("web freeze profile fragment: ") and "\n" not in str(err.value)


def test_rendering_fills_in_the_roles_own_defaults_only() -> None:
    defaults = {"web_root": "/var/www/results", "web_port": 443}
    text = "paths: ['{{ web_root }}']\n"
    assert render_fragment(text, "web", defaults) == b"paths: ['/var/www/results']\n"
    assert render_fragment(text, "web", defaults, {"web_root": "/srv/site"}) == b"paths: ['/srv/site']\n"
    for bad, message in (("{{ other_root }}", "not one of the role's documented defaults"),
                         ("{{ web_missing }}", "not one of the role's documented defaults"),
                         ("{{ web_root | upper }}", "only a plain variable name"),
                         ("{{ web_port }}", "plain one-line string")):
        with pytest.raises(InputError, match=message):
            render_fragment(bad, "web", defaults)
    with pytest.raises(InputError, match="plain one-line string"):
        render_fragment(text, "web", defaults, {"web_root": "{{ lookup('pipe', 'id') }}"})


SITE_GROUPS = {
    "all": ["count-db", "count-app", "results-tx", "device-1"],
    "counting_servers": ["count-db", "count-app", "results-tx"],
    "counting_db": ["count-db"], "counting_app": ["count-app"], "monitoring": ["count-app"],
    "results_web": ["results-tx"], "transmission": ["results-tx"], "devices": ["device-1"],
}


def test_the_site_playbook_gives_each_host_its_roles() -> None:
    site = REPO / "playbooks" / "site.yml"
    web = roles_for_host(site, "results-tx", SITE_GROUPS)
    db = roles_for_host(site, "count-db", SITE_GROUPS)
    app = roles_for_host(site, "count-app", SITE_GROUPS)
    assert "results_website" in web and "results_website" not in db and "results_website" not in app
    assert {"monitoring_server", "log_collector", "traffic_report"} <= set(app) - set(db)
    assert {"os_baseline", "ssh_hardening", "nftables_firewall", "audit_trail", "postgresql_server"} <= set(db)
    assert roles_for_host(site, "device-1", SITE_GROUPS) == []
    assert web == sorted(web)


def test_host_patterns_are_evaluated_exactly_or_refused(tmp_path: Path) -> None:
    pb = tmp_path / "pb.yml"
    pb.write_text(yaml.safe_dump([
        {"hosts": "counting_servers:&results_web", "roles": ["election.freeze.a"]},
        {"hosts": "all:!counting_db", "roles": [{"role": "b"}]},
        {"hosts": "count-db,devices", "tasks": [{"ansible.builtin.import_role": {"name": "c"}},
                                                {"block": [{"include_role": {"name": "d"}}]}]},
    ]))
    assert roles_for_host(pb, "results-tx", SITE_GROUPS) == ["a", "b"]
    assert roles_for_host(pb, "count-db", SITE_GROUPS) == ["c", "d"]
    assert roles_for_host(pb, "device-1", SITE_GROUPS) == ["b", "c", "d"]
    pb.write_text(yaml.safe_dump([{"hosts": "count-*", "roles": ["a"]}]))
    with pytest.raises(InputError, match="cannot be evaluated exactly"):
        roles_for_host(pb, "count-db", SITE_GROUPS)
    pb.write_text(yaml.safe_dump([{"import_playbook": "pb.yml"}]))
    with pytest.raises(InputError, match="imports itself"):
        roles_for_host(pb, "count-db", SITE_GROUPS)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_ships_a_fragment_that_renders_with_its_defaults(role: str) -> None:
    fragment = load_fragment(REPO / "roles", role)
    assert fragment is not None, f"roles/{role}/meta/freeze_profile.yml is missing (say so even when empty)"
    # and composes with the lab's base profile
    base = REPO / "inventories" / "lab" / "freeze" / "profile.yml"
    assert compose_profile(base.read_bytes(), base.name, [fragment]).profile.paths


def test_the_results_website_fragment_names_the_roles_own_paths() -> None:
    """Its fixed paths are the role's vars/main.yml (the switch script and the selector)."""
    internal = yaml.safe_load((REPO / "roles/results_website/vars/main.yml").read_text())
    fragment = load_fragment(REPO / "roles", "results_website", {"results_website_root": "/srv/results"})
    assert fragment is not None
    paths = {e["path"]: e for e in fragment.paths}
    assert paths[internal["__results_website_selector"]]["volatility"] == "switch"
    assert paths[internal["__results_website_state_dir"] + "/switch.log"]["volatility"] == "growing"
    assert "/srv/results" in paths  # the host's own document root, not the default
    assert set(fragment.known_transient) == {internal["__results_website_revert_unit"] + ".timer",
                                             internal["__results_website_revert_unit"] + ".service"}


def test_compose_for_host_and_the_cli_give_the_same_bytes(tmp_path: Path) -> None:
    base = REPO / "inventories" / "lab" / "freeze" / "profile.yml"
    roles = ["results_website", "postgresql_server", "os_baseline"]
    shuffled = roles[:]
    random.Random(7).shuffle(shuffled)
    comp = compose_for_host(base, REPO / "roles", roles, "results-tx")
    assert compose_for_host(base, REPO / "roles", shuffled, "results-tx").text == comp.text
    out = tmp_path / "results-tx.profile.yml"
    freeze("profile", "compose", "--base", base, "--roles-dir", REPO / "roles", "--host", "results-tx",
           *(a for r in roles for a in ("--role", r)), "-o", out)
    assert out.read_bytes() == comp.text
    code, text, _ = freeze("profile", "compose", "--base", base, "--roles-dir", REPO / "roles",
                           "--host", "results-tx", "--role", "results_website", "--check", out, expect=8)
    assert text.startswith("DIFFERS:")
    # bad input: one line, a non-zero exit, no traceback
    broken = tmp_path / "broken.yml"
    broken.write_text("paths: [relative]\n")
    code, _, err = freeze("profile", "compose", "--base", broken, "--roles-dir", REPO / "roles",
                          "--host", "h", "--role", "os_baseline", "-o", tmp_path / "x.yml", expect=None)
    assert code == 65 and "must be an absolute path" in err and "Traceback" not in err
    code, _, err = freeze("profile", "compose", "--base", base, "--roles-dir", REPO / "roles",
                          "--host", "h", "-o", tmp_path / "x.yml", expect=None)
    assert code == 64 and "--playbook" in err


def test_only_the_host_values_a_fragment_uses_are_read() -> None:
    """The host's other values (vault secrets among them) are never looked up, so a ceremony
    does not template them and a broken unrelated value cannot stop a composition."""
    class Guarded(dict):  # type: ignore[type-arg]
        def __getitem__(self, name: str) -> object:
            if name != "results_website_root":
                raise AssertionError(f"{name} was read")
            return super().__getitem__(name)

        def items(self):  # type: ignore[no-untyped-def]
            raise AssertionError("every host value was read")

    host_vars = Guarded(results_website_root="/srv/site", results_website_tls_private_key="SECRET",
                        postgresql_server_logins=[{"password": "SECRET"}])
    base = REPO / "inventories" / "lab" / "freeze" / "profile.yml"
    comp = compose_for_host(base, REPO / "roles", ["results_website", "postgresql_server"], "web1", host_vars)
    rule = comp.profile.rule_for("/srv/site/index.html")
    assert rule is not None and rule.path == "/srv/site"
