import os

import pytest

from freeze.errors import InputError, NoInputError, RefusedError
from freeze.profile import DEFAULT_SYSCTLS, load_profile, parse_profile


def _parse(text: str):
    return parse_profile(text.encode(), source="profile.yml")


def test_minimal_profile_gets_defaults():
    p = _parse("name: lab\npaths: [/etc]\n")
    assert p.name == "lab" and p.root == "/"
    assert p.paths[0].path == "/etc" and p.paths[0].volatility == "static"
    assert p.paths[0].recursive is True
    assert p.packages["dpkg_admindir"] == "/var/lib/dpkg"
    assert p.kernel["sysctls"] == list(DEFAULT_SYSCTLS)
    assert p.database is None and p.zero is None and p.evidence is None
    assert len(p.digest) == 64


@pytest.mark.parametrize("text, message", [
    ("paths:\n  - /etc\n  - /var\n  - {path: /srv, volatility: sometimes}\n",
     "profile.yml: paths[2].volatility: must be one of static, growing, rotating, rewritten, excluded"),
    ("paths: [etc]\n", "profile.yml: paths[0].path: must be an absolute path"),
    ("pathz: [/etc]\n", "profile.yml: pathz: unknown key"),
    ("paths: [{path: /etc, recursiv: false}]\n", "profile.yml: paths[0].recursiv: unknown key"),
    ("network: {sockets: maybe}\n", "profile.yml: network.sockets: must be true or false"),
    ("database: {schemas: [public]}\n", "profile.yml: database: set exactly one of"),
    ("database: {dsn_env: A, dsn: 'host=x password=y'}\n", "profile.yml: database.dsn: unknown key"),
    ("database: {dsn_env: A, tables: [votes]}\n", "profile.yml: database.tables[0]: must be schema.table"),
    ("database: {dsn_env: A, volatile_sequences: [s.a, seq]}\n",
     "profile.yml: database.volatile_sequences[1]: must be schema.sequence"),
    ("database: {dsn_env: A, volatile_sequences: s.a}\n",
     "profile.yml: database.volatile_sequences: must be a list of strings"),
    ("paths: [/etc, /etc/]\n", "profile.yml: paths[1].path: /etc is listed twice"),
    ("version: 2\n", "profile.yml: version: must be 1"),
    ("- just\n- a list\n", "profile.yml: must be a YAML mapping"),
    ("paths: [/etc\n", "profile.yml: line"),
    ("zero: 3\n", "profile.yml: zero: must be a mapping"),
])
def test_invalid_profiles_give_one_line_errors_naming_the_key(text, message):
    with pytest.raises(InputError) as exc:
        _parse(text)
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_zero_and_evidence_pass_through_raw():
    p = _parse("zero: {tables: [public.votes], anything: [1, 2]}\nevidence: {root: x}\n")
    assert p.zero == {"tables": ["public.votes"], "anything": [1, 2]}
    assert p.evidence == {"root": "x"}


def test_longest_rule_governs():
    p = _parse("paths:\n  - /var/lib\n  - {path: /var/lib/postgresql, volatility: excluded}\n"
               "  - {path: /var/log, volatility: growing}\n")
    assert p.rule_for("/var/lib/dpkg/status").path == "/var/lib"
    assert p.rule_for("/var/lib/postgresql/15/main").volatility == "excluded"
    assert p.rule_for("/var/log/syslog").volatility == "growing"
    assert p.rule_for("/var/libfoo") is None


def test_dsn_from_environment(monkeypatch):
    p = _parse("database: {dsn_env: FREEZE_TEST_DSN}\n")
    monkeypatch.setenv("FREEZE_TEST_DSN", "host=db password=s3cret")
    assert p.database.resolve_dsn() == "host=db password=s3cret"
    monkeypatch.delenv("FREEZE_TEST_DSN")
    with pytest.raises(InputError) as exc:
        p.database.resolve_dsn()
    assert "FREEZE_TEST_DSN" in str(exc.value)


def test_dsn_file_must_be_owner_only(tmp_path):
    f = tmp_path / "dsn"
    f.write_text("host=db password=s3cret\n")
    os.chmod(f, 0o640)
    p = _parse(f"database: {{dsn_file: {f}}}\n")
    with pytest.raises(RefusedError) as exc:
        p.database.resolve_dsn()
    assert "s3cret" not in str(exc.value) and "0640" in str(exc.value)
    os.chmod(f, 0o600)
    assert p.database.resolve_dsn() == "host=db password=s3cret"
    f.unlink()
    with pytest.raises(NoInputError):
        p.database.resolve_dsn()


def test_load_profile_missing_file(tmp_path):
    with pytest.raises(NoInputError):
        load_profile(tmp_path / "nope.yml")


def test_digest_is_of_the_file_bytes(tmp_path):
    f = tmp_path / "p.yml"
    f.write_bytes(b"paths: [/etc]\n")
    a = load_profile(f)
    f.write_bytes(b"paths: [/etc]  # comment\n")
    assert load_profile(f).digest != a.digest


def test_lab_example_profile_is_valid():
    from pathlib import Path

    p = load_profile(Path(__file__).resolve().parents[2] / "inventories/lab/freeze/profile.yml")
    assert p.rule_for("/var/log/journal/x").volatility == "excluded"
    assert p.rule_for("/var/log/syslog").volatility == "rotating"
    assert p.rule_for("/var/log/lastlog").volatility == "rewritten"
    assert p.database is not None and p.database.dsn_env == "FREEZE_DB_DSN"
    # issue 12: the results website's mode selector, its two modes known (the role's
    # selector path and the mode files its switch script points it at)
    import yaml

    role = Path(__file__).resolve().parents[2] / "roles/results_website"
    path = yaml.safe_load((role / "vars/main.yml").read_text())["__results_website_selector"]
    assert 'ln -sfn "mode-$1.conf" "$sel.new"' in (role / "templates/results-website-mode.sh.j2").read_text()
    # the selector comes with the role's fragment: in results-tx's composed profile, not the base
    from freeze.compose import compose_for_host

    base = Path(__file__).resolve().parents[2] / "inventories/lab/freeze/profile.yml"
    assert p.rule_for(path).volatility == "static"
    p = compose_for_host(base, role.parent, ["results_website"], "results-tx").profile
    selector = p.rule_for(path)
    assert selector.volatility == "switch" and selector.path == path
    assert selector.targets == ("mode-normal.conf", "mode-attack.conf")
    assert p.rule_for("/etc/nginx/results-website/mode-attack.conf").volatility == "static"


def test_virtual_file_systems_are_refused():
    for path in ("/proc", "/sys/kernel", "/"):
        with pytest.raises(InputError) as exc:
            _parse(f"paths: [{path}]\n")
        assert "virtual file system" in str(exc.value)
    assert _parse("root: /mnt/image\npaths: [/]\n").paths[0].path == "/"


def test_lab_example_profile_documents_commands_that_work_on_the_lab():
    """Issue 16, 8: the header said --host root@... (no root login on the lab) and a
    known_hosts file the lab never writes. Every documented freeze line must parse."""
    import shlex
    from pathlib import Path

    from freeze.cli import build_parser

    text = (Path(__file__).resolve().parents[2] / "inventories/lab/freeze/profile.yml").read_text()
    header = [ln.removeprefix("#").strip() for ln in text.splitlines() if ln.startswith("#")]
    commands, current = [], ""
    for line in header:
        current += " " + line.removesuffix("\\").strip()
        if not line.endswith("\\"):
            if current.strip().startswith(("freeze snapshot ", "freeze verify ")):
                commands.append(current.split("#")[0].strip())
            current = ""
    assert len(commands) == 2
    for command in commands:
        args = build_parser().parse_args(shlex.split(command)[1:])  # an unknown option exits 64
        assert args.host.startswith("labadmin@") and args.sudo
        assert args.known_hosts and args.identity == ".lab/cache/ssh/id_ed25519"
    assert "ssh-keyscan -p 2221 127.0.0.1 > lab_known_hosts" in text
    assert "root@" not in text


# --------------------------------------------------------------------------- switch (issue 12)

_SWITCH = "  - path: /etc/sel.conf\n    volatility: switch\n"


def test_switch_rule_keeps_its_known_targets():
    p = _parse("paths:\n  - /etc\n" + _SWITCH + "    targets: [mode-normal.conf, mode-attack.conf]\n")
    rule = p.rule_for("/etc/sel.conf")
    assert rule.volatility == "switch" and rule.targets == ("mode-normal.conf", "mode-attack.conf")
    assert p.rule_for("/etc/other.conf").volatility == "static"
    spec = {r["path"]: r for r in p.collect_spec()["paths"]}
    assert spec["/etc/sel.conf"]["targets"] == ["mode-normal.conf", "mode-attack.conf"]


def test_rules_without_targets_keep_their_spec():
    """A profile that does not use `targets` gives the collectors (and the host checker)
    exactly the spec it gave before: no `targets` key."""
    p = _parse("paths:\n  - /etc\n  - {path: /var/log, volatility: growing, exclude: ['*.gz']}\n")
    assert p.collect_spec()["paths"] == [
        {"path": "/etc", "volatility": "static", "recursive": True, "include": [], "exclude": []},
        {"path": "/var/log", "volatility": "growing", "recursive": True, "include": [],
         "exclude": ["*.gz"]},
    ]


@pytest.mark.parametrize("text, message", [
    ("paths:\n" + _SWITCH,
     "profile.yml: paths[0].targets: required for volatility switch"),
    ("paths:\n" + _SWITCH + "    targets: []\n",
     "profile.yml: paths[0].targets: must list at least one target"),
    ("paths:\n" + _SWITCH + "    targets: a.conf\n",
     "profile.yml: paths[0].targets: must be a list of strings"),
    ("paths:\n" + _SWITCH + "    targets: [a.conf, '']\n",
     "profile.yml: paths[0].targets[1]: must be a non-empty string"),
    ("paths:\n" + _SWITCH + "    targets: [a.conf, a.conf]\n",
     "profile.yml: paths[0].targets[1]: a.conf is listed twice"),
    ("paths:\n  - /etc\n  - {path: /var/log, volatility: growing, targets: [a]}\n",
     "profile.yml: paths[1].targets: only for volatility switch (this entry is growing)"),
    ("paths:\n  - {path: /etc, targets: [a]}\n",
     "profile.yml: paths[0].targets: only for volatility switch (this entry is static)"),
    ("paths:\n" + _SWITCH + "    targets: [a]\n    recursive: false\n",
     "profile.yml: paths[0].recursive: not for volatility switch"),
    ("paths:\n" + _SWITCH + "    targets: [a]\n    exclude: ['*.new']\n",
     "profile.yml: paths[0].exclude: not for volatility switch"),
    ("paths:\n" + _SWITCH + "    targets: [a]\n    include: ['*']\n",
     "profile.yml: paths[0].include: not for volatility switch"),
    ("paths:\n" + _SWITCH + "    target: [a]\n",
     "profile.yml: paths[0].target: unknown key"),
    ("paths:\n" + _SWITCH + "    targets: [a]\n  - /etc/sel.conf/x\n",
     "profile.yml: paths[0].path: /etc/sel.conf is a switch (one symlink) but /etc/sel.conf/x"),
])
def test_switch_validation_names_the_key(text, message):
    with pytest.raises(InputError) as exc:
        _parse(text)
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)


# --------------------------------------------------------------------------- known transient units (issue 12)

_REVERT = "[results-website-attack-revert.timer, results-website-attack-revert.service]"


def test_known_transient_units_are_kept_and_only_then_in_the_spec():
    p = _parse("paths: [/etc]\nservices:\n  enabled: true\n  known_transient: " + _REVERT + "\n")
    assert p.services == {"enabled": True, "known_transient": [
        "results-website-attack-revert.timer", "results-website-attack-revert.service"]}
    assert p.collect_spec()["services"]["known_transient"] == [
        "results-website-attack-revert.timer", "results-website-attack-revert.service"]
    assert p.known_transient == frozenset(p.services["known_transient"])
    # a profile without the key gives the collectors (and watch.json) the spec it gave before
    for text in ("paths: [/etc]\n", "paths: [/etc]\nservices: {enabled: true}\n"):
        assert _parse(text).collect_spec()["services"] == {"enabled": True}
        assert _parse(text).known_transient == frozenset()
    assert _parse("services:\n  known_transient: [a@1.socket, x.path]\n").known_transient \
        == {"a@1.socket", "x.path"}


@pytest.mark.parametrize("text, message", [
    ("services: {known_transient: results-website-attack-revert.timer}\n",
     "profile.yml: services.known_transient: must be a list of strings"),
    ("services: {known_transient: []}\n",
     "profile.yml: services.known_transient: must list at least one unit"),
    ("services: {known_transient: [results-website-*.timer]}\n",
     "profile.yml: services.known_transient[0]: results-website-*.timer: a glob; name each unit exactly"),
    ("services: {known_transient: [a.timer, 'run-u[0-9].service']}\n",
     "profile.yml: services.known_transient[1]: run-u[0-9].service: a glob; name each unit exactly"),
    ("services: {known_transient: [a.timer, 'b?.timer']}\n",
     "profile.yml: services.known_transient[1]: b?.timer: a glob"),
    ("services: {known_transient: [results-website-attack-revert]}\n",
     "profile.yml: services.known_transient[0]: results-website-attack-revert: must end in "
     ".service, .timer, .socket or .path"),
    ("services: {known_transient: [tmp.mount]}\n",
     "profile.yml: services.known_transient[0]: tmp.mount: must end in .service, .timer, .socket or .path"),
    ("services: {known_transient: [.timer]}\n",
     "profile.yml: services.known_transient[0]: .timer: must be a systemd unit name"),
    ("services: {known_transient: ['a b.timer']}\n",
     "profile.yml: services.known_transient[0]: a b.timer: must be a systemd unit name"),
    ("services: {known_transient: [getty@.service]}\n",
     "profile.yml: services.known_transient[0]: getty@.service: a template"),
    ("services: {known_transient: [a.timer, a.timer]}\n",
     "profile.yml: services.known_transient[1]: a.timer is listed twice"),
    ("services: {known_transient: [a.timer, '']}\n",
     "profile.yml: services.known_transient[1]: must be a non-empty string"),
    ("services: {enabled: false, known_transient: [a.timer]}\n",
     "profile.yml: services.known_transient: only with the services section enabled"),
    ("services: {known_transients: [a.timer]}\n",
     "profile.yml: services.known_transients: unknown key (allowed: enabled, known_transient)"),
])
def test_known_transient_validation_names_the_key(text, message):
    with pytest.raises(InputError) as exc:
        _parse(text)
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)



def test_lab_profile_knows_the_revert_timer_units_the_switch_script_starts():
    """results-tx's composed lab profile knows the two transient units systemd-run makes from the
    role's revert unit name (--unit=NAME with --on-active: NAME.timer and NAME.service)."""
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[2]
    role = repo / "roles/results_website"
    unit = yaml.safe_load((role / "vars/main.yml").read_text())["__results_website_revert_unit"]
    script = (role / "templates/results-website-mode.sh.j2").read_text()
    assert "unit={{ __results_website_revert_unit }}" in script
    assert 'systemd-run --quiet --unit="$unit" --on-active=' in script
    from freeze.compose import compose_for_host

    p = compose_for_host(repo / "inventories/lab/freeze/profile.yml", repo / "roles", ["results_website"],
                         "results-tx").profile
    assert p.known_transient == {f"{unit}.timer", f"{unit}.service"}


# --------------------------------------------------------------------------- modules loaded on demand (issue 17)

_DIAG = "[inet_diag, tcp_diag, veth]"


def test_modules_on_demand_are_kept_and_only_then_in_the_spec():
    p = _parse("paths: [/etc]\nkernel:\n  modules: true\n  modules_on_demand: " + _DIAG + "\n")
    assert p.kernel["modules_on_demand"] == ["inet_diag", "tcp_diag", "veth"]
    assert p.collect_spec()["kernel"]["modules_on_demand"] == ["inet_diag", "tcp_diag", "veth"]
    assert p.collect_spec()["kernel"]["modules_on_demand"] is not p.kernel["modules_on_demand"]
    assert p.modules_on_demand == frozenset({"inet_diag", "tcp_diag", "veth"})
    # a profile without the key gives the collectors (and watch.json) the spec it gave before
    for text in ("paths: [/etc]\n", "paths: [/etc]\nkernel: {modules: true}\n"):
        assert _parse(text).collect_spec()["kernel"] == {
            "enabled": True, "sysctls": list(DEFAULT_SYSCTLS), "modules": True}
        assert _parse(text).modules_on_demand == frozenset()
    assert _parse("kernel: {sysctls: [], modules_on_demand: [af_packet_diag, x9]}\n").kernel == {
        "enabled": True, "sysctls": [], "modules": True, "modules_on_demand": ["af_packet_diag", "x9"]}


@pytest.mark.parametrize("text, message", [
    ("kernel: {modules_on_demand: inet_diag}\n",
     "profile.yml: kernel.modules_on_demand: must be a list of strings"),
    ("kernel: {modules_on_demand: []}\n",
     "profile.yml: kernel.modules_on_demand: must list at least one module"),
    ("kernel: {modules_on_demand: ['*_diag']}\n",
     "profile.yml: kernel.modules_on_demand[0]: *_diag: a glob; name each module exactly"),
    ("kernel: {modules_on_demand: [veth, 'nf_?at']}\n",
     "profile.yml: kernel.modules_on_demand[1]: nf_?at: a glob"),
    ("kernel: {modules_on_demand: [veth, '[a-z]_diag']}\n",
     "profile.yml: kernel.modules_on_demand[1]: [a-z]_diag: a glob"),
    ("kernel: {modules_on_demand: [inet-diag]}\n",
     "profile.yml: kernel.modules_on_demand[0]: inet-diag: /proc/modules spells module names "
     "with underscores; write inet_diag"),
    ("kernel: {modules_on_demand: [Veth]}\n",
     "profile.yml: kernel.modules_on_demand[0]: Veth: must be a module name as /proc/modules lists it"),
    ("kernel: {modules_on_demand: [veth.ko]}\n",
     "profile.yml: kernel.modules_on_demand[0]: veth.ko: must be a module name"),
    ("kernel: {modules_on_demand: ['inet diag']}\n",
     "profile.yml: kernel.modules_on_demand[0]: inet diag: must be a module name"),
    ("kernel: {modules_on_demand: [" + "m" * 56 + "]}\n",
     "profile.yml: kernel.modules_on_demand[0]: " + "m" * 56 + ": must be a module name"),
    ("kernel: {modules_on_demand: [veth, '']}\n",
     "profile.yml: kernel.modules_on_demand[1]: must be a non-empty string"),
    ("kernel: {modules_on_demand: [veth, 7]}\n",
     "profile.yml: kernel.modules_on_demand[1]: must be a non-empty string"),
    ("kernel: {modules_on_demand: [tcp_diag, veth, tcp_diag]}\n",
     "profile.yml: kernel.modules_on_demand[2]: tcp_diag is listed twice"),
    ("kernel: {modules: false, modules_on_demand: [veth]}\n",
     "profile.yml: kernel.modules_on_demand: only with the kernel section's modules recorded "
     "(modules: false records no modules)"),
    ("kernel: {enabled: false, modules_on_demand: [veth]}\n",
     "profile.yml: kernel.modules_on_demand: only with the kernel section's modules recorded "
     "(enabled: false records no modules)"),
    ("kernel: {module_on_demand: [veth]}\n",
     "profile.yml: kernel.module_on_demand: unknown key (allowed: enabled, modules, "
     "modules_on_demand, sysctls)"),
])
def test_modules_on_demand_validation_names_the_key(text, message):
    with pytest.raises(InputError) as exc:
        _parse(text)
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)


def test_lab_profile_lists_the_modules_loaded_on_demand_and_keeps_its_kernel_defaults():
    """Issue 17: the lab's routine day (ss, the tests' veth pairs, one reboot) left inet_diag,
    tcp_diag and veth as removed modules; the lab profile lists the sock_diag family and
    veth, and the rest of its kernel section stays the defaults it had."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    p = load_profile(repo / "inventories/lab/freeze/profile.yml")
    assert p.kernel == {"enabled": True, "sysctls": list(DEFAULT_SYSCTLS), "modules": True,
                        "modules_on_demand": ["inet_diag", "tcp_diag", "udp_diag", "unix_diag",
                                              "netlink_diag", "raw_diag", "af_packet_diag", "veth"]}
    # the lab test that makes the veth pair
    assert "type veth" in (repo / "tests/infra/test_nftables_firewall.py").read_text()


def test_host_profiles_from_a_file_or_a_directory_of_host_files(tmp_path):
    from freeze.errors import NoInputError
    from freeze.profile import load_host_profiles

    one = tmp_path / "base.yml"
    one.write_text("name: base\npaths: [/etc]\n")
    shared = load_host_profiles(one)
    assert shared.for_host("any-host").name == "base" and shared.for_host("other").name == "base"
    d = tmp_path / "profiles"
    d.mkdir()
    (d / "count-db.profile.yml").write_text("name: db\npaths: [/etc]\n")
    (d / "notes.txt").write_text("not a profile\n")
    each = load_host_profiles(d)
    assert set(each.by_host) == {"count-db"} and each.for_host("count-db").name == "db"
    with pytest.raises(NoInputError, match="host web-01: no profile web-01.profile.yml"):
        each.for_host("web-01")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoInputError, match="without any HOST.profile.yml"):
        load_host_profiles(empty)
