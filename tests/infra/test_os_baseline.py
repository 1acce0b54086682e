"""os_baseline on a lab host: kernel parameters, modules, mounts, PAM behaviour,
set-id allowlist, accounts. Every test checks the live system (values the kernel,
mount table or PAM actually use), so each fails on a host the role never touched.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest

from tests.infra.lab_host import hostvars

# Kernel parameters the role sets (CIS Debian 12 v1.1.0 ids), value the kernel must report.
SYSCTL = {
    "kernel.randomize_va_space": 2,  # 1.5.1
    "kernel.yama.ptrace_scope": 2,  # 1.5.2
    "fs.suid_dumpable": 0,  # 1.5.3
    "net.ipv4.ip_forward": 0,  # 3.3.1
    "net.ipv4.conf.all.send_redirects": 0,  # 3.3.2
    "net.ipv4.icmp_ignore_bogus_error_responses": 1,  # 3.3.3
    "net.ipv4.icmp_echo_ignore_broadcasts": 1,  # 3.3.4
    "net.ipv4.conf.all.accept_redirects": 0,  # 3.3.5
    "net.ipv6.conf.all.accept_redirects": 0,  # 3.3.5
    "net.ipv4.conf.all.secure_redirects": 0,  # 3.3.6
    "net.ipv4.conf.all.rp_filter": 1,  # 3.3.7
    "net.ipv4.conf.all.accept_source_route": 0,  # 3.3.8
    "net.ipv4.conf.all.log_martians": 1,  # 3.3.9
    "net.ipv4.tcp_syncookies": 1,  # 3.3.10
    "net.ipv6.conf.all.accept_ra": 0,  # 3.3.11
    "kernel.dmesg_restrict": 1,
    "kernel.kptr_restrict": 2,
    "fs.protected_symlinks": 1,
    # systemd's vendor protect-links.conf used to reset this one to 1 (masked now)
    "fs.protected_fifos": 2,
    "fs.protected_regular": 2,
    "kernel.core_uses_pid": 1,
}

# Programs that must keep their set-uid bit, or nobody can become root.
MUST_STAY_SETUID = ("/usr/bin/sudo", "/usr/bin/su", "/usr/bin/passwd")

# Minimal PAM client (ctypes, no extra package on the host): for each password line
# on stdin, one whole PAM transaction for USER (start, authenticate, account, end)
# through the "other" PAM service, i.e. the common-auth/common-account stacks
# pam-auth-update generates; prints one PAM code per line. One process for all the
# attempts: a python3 start per attempt cost seconds each on an emulated VM.
PAM_CLIENT = r'''
import ctypes, ctypes.util, sys
pam = ctypes.CDLL(ctypes.util.find_library("pam"))
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.calloc.restype = ctypes.c_void_p
libc.strdup.restype = ctypes.c_void_p
libc.strdup.argtypes = [ctypes.c_char_p]
class Msg(ctypes.Structure):
    _fields_ = [("style", ctypes.c_int), ("msg", ctypes.c_char_p)]
class Resp(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("code", ctypes.c_int)]
CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(Msg)),
                        ctypes.POINTER(ctypes.POINTER(Resp)), ctypes.c_void_p)
class Conv(ctypes.Structure):
    _fields_ = [("conv", CONV), ("data", ctypes.c_void_p)]
current = [b""]
def answer(n, msgs, resp, _data):
    arr = ctypes.cast(libc.calloc(n, ctypes.sizeof(Resp)), ctypes.POINTER(Resp))
    for i in range(n):
        if msgs[i].contents.style in (1, 2):  # PAM_PROMPT_ECHO_OFF / _ON
            arr[i].resp = libc.strdup(current[0])
    resp[0] = arr
    return 0
conv = Conv(CONV(answer), None)
pam.pam_start.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(Conv), ctypes.POINTER(ctypes.c_void_p)]
for line in sys.stdin:
    current[0] = line.rstrip("\n").encode()
    handle = ctypes.c_void_p()
    rc = pam.pam_start(b"election-pam-probe", sys.argv[1].encode(), ctypes.byref(conv), ctypes.byref(handle))
    rc = rc or pam.pam_authenticate(handle, 0)
    rc = rc or pam.pam_acct_mgmt(handle, 0)
    pam.pam_end(handle, rc)
    print(rc, flush=True)
'''
PROBE_USER = "pamprobe"
PROBE_PASSWORD = "Lab-probe-Passw0rd-#47"


# The control each kernel parameter serves (the ids in the comments above).
SYSCTL_CONTROLS = {
    "kernel.randomize_va_space": "CIS-1.5.1", "kernel.yama.ptrace_scope": "CIS-1.5.2",
    "fs.suid_dumpable": "CIS-1.5.3", "net.ipv4.ip_forward": "CIS-3.3.1",
    "net.ipv4.conf.all.send_redirects": "CIS-3.3.2", "net.ipv4.icmp_ignore_bogus_error_responses": "CIS-3.3.3",
    "net.ipv4.icmp_echo_ignore_broadcasts": "CIS-3.3.4", "net.ipv4.conf.all.accept_redirects": "CIS-3.3.5",
    "net.ipv6.conf.all.accept_redirects": "CIS-3.3.5", "net.ipv4.conf.all.secure_redirects": "CIS-3.3.6",
    "net.ipv4.conf.all.rp_filter": "CIS-3.3.7", "net.ipv4.conf.all.accept_source_route": "CIS-3.3.8",
    "net.ipv4.conf.all.log_martians": "CIS-3.3.9", "net.ipv4.tcp_syncookies": "CIS-3.3.10",
    "net.ipv6.conf.all.accept_ra": "CIS-3.3.11",
}


@pytest.mark.parametrize(("key", "value"), [
    pytest.param(key, value, marks=pytest.mark.control(SYSCTL_CONTROLS.get(key, "EF-OS-1")))
    for key, value in sorted(SYSCTL.items())])
def test_kernel_parameters(host, key: str, value: int) -> None:  # noqa: ANN001
    with host.sudo():
        assert int(host.check_output(f"sysctl -n {key}")) == value


MODULE_CONTROLS = {
    "cramfs": "CIS-1.1.1.1", "freevxfs": "CIS-1.1.1.2", "hfs": "CIS-1.1.1.3", "hfsplus": "CIS-1.1.1.4",
    "jffs2": "CIS-1.1.1.5", "udf": "CIS-1.1.1.8", "usb-storage": "CIS-1.1.1.9", "dccp": "CIS-3.2.1",
    "tipc": "CIS-3.2.2", "rds": "CIS-3.2.3", "sctp": "CIS-3.2.4", "firewire-core": "EF-OS-2",
    "firewire-ohci": "EF-OS-2",
}


@pytest.mark.parametrize("module", [pytest.param(module, marks=pytest.mark.control(MODULE_CONTROLS[module]))
                                    for module in ["cramfs", "freevxfs", "hfs", "hfsplus", "jffs2", "udf",
                                                   "usb-storage", "dccp", "tipc", "rds", "sctp",
                                                   "firewire-core", "firewire-ohci"]])
def test_unused_modules_cannot_load(host, module: str) -> None:  # noqa: ANN001
    """modprobe resolves the module to `install /bin/false` (CIS 1.1.1.x / 3.2.x)."""
    with host.sudo():
        dry = host.run(f"modprobe -n -v {module}")
        listed = host.run(f"grep -Rqs '^blacklist {module}$' /etc/modprobe.d")
    assert "install /bin/false" in dry.stdout, dry.stdout + dry.stderr
    assert listed.rc == 0


# CIS numbers the four checks of each directory alike: separate mount, nodev, nosuid, noexec.
MOUNT_SECTIONS = {"/tmp": "1.1.2.1", "/dev/shm": "1.1.2.2", "/var/tmp": "1.1.2.5"}


@pytest.mark.parametrize("mountpoint", [
    pytest.param(mountpoint, marks=pytest.mark.control(*(f"CIS-{MOUNT_SECTIONS[mountpoint]}.{n}" for n in range(1, 5))))
    for mountpoint in ["/tmp", "/dev/shm", "/var/tmp"]])
def test_temporary_directories_mounted_nodev_nosuid_noexec(host, mountpoint: str) -> None:  # noqa: ANN001
    out = host.run(f"findmnt -no OPTIONS --mountpoint {mountpoint}")
    assert out.rc == 0, f"{mountpoint} is not a separate mount"
    options = set(out.stdout.strip().split(","))
    assert {"nodev", "nosuid", "noexec"} <= options, options


@pytest.mark.control("CIS-1.1.2.1.4")
@pytest.mark.writes
def test_noexec_tmp_really_refuses_execution(host) -> None:  # noqa: ANN001
    with host.sudo():
        res = host.run("f=$(mktemp -p /tmp) && printf '#!/bin/sh\\necho ran\\n' > $f && chmod +x $f; "
                       "$f; rc=$?; rm -f $f; exit $rc")
    assert res.rc != 0 and "ran" not in res.stdout


@pytest.mark.control("CIS-7.1.13")
def test_setid_programs_are_only_the_allowlisted_ones(host) -> None:  # noqa: ANN001
    allow = set(hostvars(host).get("os_baseline_suid_allowlist") or [])
    if not allow:
        # role default (defaults/main.yml), when the inventory does not override it
        allow = {"/usr/bin/sudo", "/usr/bin/su", "/usr/bin/passwd", "/usr/bin/chage", "/usr/bin/gpasswd",
                 "/usr/bin/newgrp", "/usr/bin/mount", "/usr/bin/umount", "/usr/bin/crontab",
                 "/usr/sbin/unix_chkpwd", "/usr/lib/dbus-1.0/dbus-daemon-launch-helper"}
    with host.sudo():
        found = set(host.check_output("find / -xdev -type f -perm /6000 2>/dev/null || true").split())
    assert found <= allow, f"set-id programs outside the allowlist: {sorted(found - allow)}"
    for prog in MUST_STAY_SETUID:
        assert host.file(prog).mode & 0o4000, f"{prog} lost its set-uid bit"


@pytest.mark.control("EF-OS-3")
def test_setid_inventory_kept_as_local_fact(host) -> None:  # noqa: ANN001
    with host.sudo():
        fact = json.loads(host.check_output("cat /etc/ansible/facts.d/os_baseline_files.fact"))
    assert "/usr/bin/sudo" in fact["setid_files"]
    assert set(fact) == {"setid_files", "world_writable_files", "unowned_files"}


@pytest.mark.control("EF-LOCK-1")
def test_operator_sudo_still_works(host) -> None:  # noqa: ANN001
    assert host.run("sudo -n true").rc == 0


@pytest.mark.control("CIS-5.3.3.1.1")
@pytest.mark.writes
def test_faillock_locks_a_password_account_after_repeated_failures(host) -> None:  # noqa: ANN001
    """Real PAM stack: N wrong passwords lock the account; even the right one is then refused."""
    deny = int(hostvars(host).get("os_baseline_faillock_deny", 4))
    hashed = ("python3 -c 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_SHA512)))' "
              f"{shlex.quote(PROBE_PASSWORD)}")
    client = f"python3 -c {shlex.quote(PAM_CLIENT)} {PROBE_USER}"

    def authenticate(passwords: list[str]) -> list[int]:
        res = host.run(f"printf '%s\\n' {' '.join(shlex.quote(p) for p in passwords)} | {client}")
        assert res.rc == 0, res.stderr
        codes = [int(line) for line in res.stdout.split()]
        assert len(codes) == len(passwords), res.stdout
        return codes

    with host.sudo():
        host.run(f"userdel -r {PROBE_USER} 2>/dev/null; true")
        host.check_output(f"useradd -M -s /usr/sbin/nologin {PROBE_USER} && usermod -p \"$({hashed})\" {PROBE_USER}")
        try:
            host.check_output(f"faillock --user {PROBE_USER} --reset")
            # the right password, `deny` wrong ones, the right one again: one PAM
            # transaction each, in order, in one process
            first, *wrong, last = authenticate([PROBE_PASSWORD] + ["wrong-password"] * deny + [PROBE_PASSWORD])
            tally = host.check_output(f"faillock --user {PROBE_USER}")
            assert first == 0, "the PAM probe cannot authenticate at all"
            assert all(code != 0 for code in wrong), wrong
            assert last != 0, f"account not locked after {deny} failures:\n{tally}"
            failures = [line for line in tally.splitlines() if line[:4].isdigit()]
            assert len(failures) >= deny, tally
        finally:
            host.run(f"faillock --user {PROBE_USER} --reset; userdel {PROBE_USER}")
    assert host.run("sudo -n true").rc == 0, "sudo for the operator broke"


@pytest.mark.control("CIS-5.3.2.2", "CIS-5.3.2.3")
def test_pam_is_managed_by_pam_auth_update(host) -> None:  # noqa: ANN001
    common_auth = host.file("/etc/pam.d/common-auth").content_string
    assert "pam_faillock.so preauth" in common_auth
    assert "pam_faillock.so authfail" in common_auth
    assert "pam-auth-update" in common_auth  # generated, not hand-edited
    assert "pam_pwquality.so" in host.file("/etc/pam.d/common-password").content_string


@pytest.mark.control("EF-OS-4")
def test_key_only_operator_is_not_aged(host) -> None:  # noqa: ANN001
    """Password ageing never expires the key-only operator (it would block key logins via PAM)."""
    user = hostvars(host)["ansible_user"]
    with host.sudo():
        out = host.check_output(f"chage -l {user}")
    expires = [line for line in out.splitlines() if line.startswith("Password expires")]
    assert expires and expires[0].rstrip().endswith(": never"), out


@pytest.mark.control("CIS-1.6.1", "CIS-1.6.2", "CIS-1.6.3", "CIS-5.4.1.1", "CIS-5.4.3.3")
def test_login_defs_and_banners(host) -> None:  # noqa: ANN001
    defs = host.file("/etc/login.defs").content_string
    assert "PASS_MAX_DAYS   365" in defs and "UMASK           027" in defs
    for banner in ("/etc/issue", "/etc/issue.net", "/etc/motd"):
        text = host.file(banner).content_string
        assert "Authorised access only" in text
        assert not any(esc in text for esc in ("\\m", "\\r", "\\s", "\\v"))


@pytest.mark.control("CIS-2.4.1.2", "CIS-2.4.1.8")
def test_cron_restricted(host) -> None:  # noqa: ANN001
    assert host.file("/etc/crontab").mode == 0o600
    assert host.file("/etc/cron.allow").exists and not host.file("/etc/cron.deny").exists
    if set(hostvars(host).get("os_baseline_cron_allow_users", ["root"])) <= {"root"}:
        # only root reads the allow lists (CIS: 0640 or stricter; Lynis FILE-7524: 0600)
        assert host.file("/etc/cron.allow").mode == 0o600
        assert host.file("/etc/at.allow").mode == 0o600


@pytest.mark.control("CIS-2.3.3.3")
def test_time_sync_by_chrony(host) -> None:  # noqa: ANN001
    assert host.service("chrony").is_enabled and host.service("chrony").is_running


@pytest.mark.control("EF-OS-5")
def test_integrity_and_accounting_tools(host) -> None:  # noqa: ANN001
    """debsums is installed; process accounting records commands."""
    assert host.package("debsums").is_installed
    assert host.package("acct").is_installed
    assert host.service("acct").is_enabled
    with host.sudo():
        host.run("/usr/bin/true")
        records = host.run("lastcomm --user root 2>/dev/null | head -50")
    assert records.rc == 0 and records.stdout.strip(), "no process accounting records"


def _aide_database_built(host) -> None:  # noqa: ANN001
    """Wait (bounded) for the background build os_baseline starts, then require the file."""
    with host.sudo():
        res = host.run(
            "for i in $(seq 120); do systemctl is-active --quiet os-baseline-aideinit.service || break;"
            " sleep 5; done; test -s /var/lib/aide/aide.db")
    assert res.rc == 0, "AIDE's database was not built (os-baseline-aideinit.service)"


@pytest.mark.control("CIS-6.3.1", "CIS-6.3.3")
def test_aide_database_holds_the_role_rule_set(host) -> None:  # noqa: ANN001
    """AIDE alone (no aide-common), the role's aide.conf parses, the database holds the
    watched paths' SHA-512 entries, and a check against it runs without error."""
    hv = hostvars(host)
    assert host.package("aide").is_installed
    assert not host.package("aide-common").is_installed
    _aide_database_built(host)
    with host.sudo():
        assert host.run("aide --config=/etc/aide/aide.conf --config-check").rc == 0
        for path in hv.get("os_baseline_aide_paths") or ["/etc"]:
            entry = host.run(f"grep -c -m1 '^{path} ' /var/lib/aide/aide.db")
            assert entry.stdout.strip() == "1", f"{path} not in AIDE's database"
        # CIS 6.3.3: the audit tools are in (the database is built at the end of the
        # play, after audit_trail installed them; a lone os_baseline has none)
        if host.file("/usr/sbin/auditctl").exists:
            assert host.run("grep -m1 '^/usr/sbin/auditctl ' /var/lib/aide/aide.db").rc == 0
        conf = host.file("/etc/aide/aide.conf").content_string
        assert re.search(r"(?m)^/usr/sbin/auditctl p\+i\+n\+u\+g\+s\+b\+acl\+xattrs\+sha512$", conf)
        # 0 = no difference, 1-7 = differences found (later roles write /etc); 14+ = error
        check = host.run("aide --check --config=/etc/aide/aide.conf >/dev/null 2>&1; echo $?")
    assert int(check.stdout.strip()) < 14, f"aide --check failed: exit {check.stdout.strip()}"


@pytest.mark.control("CIS-6.3.2")
def test_aide_check_is_periodic(host) -> None:  # noqa: ANN001
    timer = host.service("aidecheck.timer")
    assert timer.is_enabled and timer.is_running
    assert host.service("aidecheck.service").is_enabled
    exec_start = host.run("systemctl show -p ExecStart --value aidecheck.service").stdout
    assert "--check" in exec_start and "/etc/aide/aide.conf" in exec_start


@pytest.mark.control("EF-OS-7")
def test_usbguard_blocks_unlisted_devices(host) -> None:  # noqa: ANN001
    """USBGuard (disruption gate): the daemon runs with the role's policy settings and
    answers over its IPC socket (it would refuse a device no rule allows)."""
    hv = hostvars(host)
    if not (hv.get("os_baseline_disruption_high") and hv.get("os_baseline_usbguard", True)):
        pytest.skip("USBGuard is behind os_baseline_disruption_high, off for this host")
    if not host.file("/sys/bus/usb/devices").exists:
        pytest.skip("this host has no USB bus: nothing to guard, the role leaves USBGuard out")
    assert host.service("usbguard").is_enabled and host.service("usbguard").is_running
    with host.sudo():
        conf = host.file("/etc/usbguard/usbguard-daemon.conf")
        assert conf.mode == 0o600
        for line in ("ImplicitPolicyTarget=block", "PresentControllerPolicy=apply-policy",
                     "InsertedDevicePolicy=apply-policy", "PresentDevicePolicy=apply-policy"):
            assert line in conf.content_string.splitlines(), line
        # the daemon itself answers, and every device it knows (the controllers' root hubs
        # here) is allowed by a rule: nothing present was blocked
        devices = host.run("usbguard list-devices")
        assert devices.rc == 0 and devices.stdout.strip(), devices.stderr
        assert all(line.split()[1] == "allow" for line in devices.stdout.splitlines()), devices.stdout
    # the kernel side: a device plugged into any bus starts unauthorized, until a rule allows it
    for bus in host.run("ls -d /sys/bus/usb/devices/usb*").stdout.split():
        assert host.file(f"{bus}/authorized_default").content_string.strip() == "0", bus


@pytest.mark.control("CIS-5.3.3.2.2", "CIS-5.3.3.2.3", "CIS-5.3.3.2.8")
def test_password_quality_in_the_main_file_the_cis_checks_read(host) -> None:  # noqa: ANN001
    """CIS 5.3.3.2.x: the values live in /etc/security/pwquality.conf (not a drop-in)
    and pam_pwquality really refuses a weak password."""
    conf = host.file("/etc/security/pwquality.conf").content_string
    for line in ("minlen = 14", "minclass = 4", "dcredit = -1", "ocredit = -1", "enforce_for_root"):
        assert line in conf, line
    assert not host.file("/etc/security/pwquality.conf.d/60-os-baseline.conf").exists
    res = host.run("echo 'abc123' | pwscore 2>&1")
    assert res.rc != 0, res.stdout


@pytest.mark.control("CIS-5.3.2.2")
def test_faillock_pam_lines_as_the_benchmark_wants(host) -> None:  # noqa: ANN001
    common_auth = host.file("/etc/pam.d/common-auth").content_string
    assert re.search(r"(?m)^auth\s+required\s+pam_faillock\.so preauth", common_auth)
    assert re.search(r"(?m)^auth\s+sufficient\s+pam_faillock\.so authsucc", common_auth)
    common_account = host.file("/etc/pam.d/common-account").content_string
    assert re.search(r"(?m)^account\s+required\s+pam_faillock\.so", common_account)


@pytest.mark.control("CIS-5.2.7")
def test_su_restricted_to_an_empty_group(host) -> None:  # noqa: ANN001
    """CIS 5.2.7: pam_wheel with an empty group; root (through sudo) still switches users."""
    group = hostvars(host).get("os_baseline_su_group", "sugroup")
    assert f"pam_wheel.so use_uid group={group}" in host.file("/etc/pam.d/su").content_string
    assert host.group(group).exists
    assert host.check_output(f"getent group {group}").rstrip().endswith(":"), "the su group has members"
    assert host.run("sudo -n su -s /bin/sh -c true nobody").rc == 0, "root can no longer su"


@pytest.mark.control("CIS-5.4.1.4", "CIS-5.4.1.5", "CIS-5.4.3.2", "CIS-5.4.3.3")
def test_shell_timeout_and_umask_everywhere(host) -> None:  # noqa: ANN001
    res = host.run("bash -lc 'echo $TMOUT; umask'")
    assert res.stdout.split() == ["900", "0027"], res.stdout
    assert "umask 027" in host.file("/etc/bash.bashrc").content_string
    assert "INACTIVE=45" in host.file("/etc/default/useradd").content_string
    login_defs = host.file("/etc/login.defs").content_string
    assert "ENCRYPT_METHOD  YESCRYPT" in login_defs
    # rounds for tools told to use SHA512 (and Lynis AUTH-9230), whatever ENCRYPT_METHOD is
    assert "SHA_CRYPT_MIN_ROUNDS 65536" in login_defs


@pytest.mark.control("CIS-1.3.1.1", "EF-OS-6")
def test_apparmor_enforces_debian_profiles(host) -> None:  # noqa: ANN001
    """CIS 1.3.1.x: AppArmor is enabled in the kernel and Debian's profiles are loaded."""
    for package in ("apparmor", "apparmor-utils"):
        assert host.package(package).is_installed, package
    assert host.file("/sys/module/apparmor/parameters/enabled").content_string.strip() == "Y"
    with host.sudo():
        status = host.check_output("aa-status")
    assert "profiles are in enforce mode" in status


# Interactive accounts as CIS 7.2.9/7.2.10 and ComplianceAsCode define them; for each,
# its home and every entry at the top of it whose name starts with a dot:
# "<kind> <octal mode> <path>". Run as root: another account's home is 0750.
HOMES_AND_DOT_FILES = r"""
uid_min=$(awk '$1 == "UID_MIN" { print $2 }' /etc/login.defs)
awk -F: -v min="${uid_min:-1000}" '$3 >= min && $1 != "nobody" && $7 !~ /(nologin|false)$/ { print $6 }' /etc/passwd |
sort -u | while IFS= read -r home; do
  [ -d "$home" ] || continue
  find "$home" -maxdepth 0 -printf 'home %m %p\n'
  find "$home" -mindepth 1 -maxdepth 1 -name '.*' ! -type l -printf 'dot %m %p\n'
done
"""


@pytest.mark.control("CIS-7.2.9", "CIS-7.2.10")
def test_interactive_homes_and_dot_files_are_private(host) -> None:  # noqa: ANN001
    """CIS 7.2.9: homes 0750 or stricter; 7.2.10: dot files 0740 or stricter, history 0600."""
    with host.sudo():
        listing = host.check_output("sh -c %s", HOMES_AND_DOT_FILES)
    rows = [line.split(" ", 2) for line in listing.splitlines() if line.strip()]
    homes = [path for kind, _, path in rows if kind == "home"]
    # the operator (labadmin in the lab) is an interactive account: the scan saw something
    assert f"/home/{hostvars(host).get('ansible_user', 'labadmin')}" in homes, listing
    # forbidden bits: set-id/sticky, group write (dot files: also group execute), all of
    # others' bits; .bash_history and .netrc: anything beyond the owner's read and write
    loose = [f"{mode} {path}" for kind, mode, path in rows
             if int(mode, 8) & (0o7027 if kind == "home"
                                else 0o7177 if path.rsplit("/", 1)[-1] in (".bash_history", ".netrc")
                                else 0o7037)]
    assert not loose, loose


@pytest.mark.control("CIS-1.5.3")
def test_login_shells_make_no_core_files(host) -> None:  # noqa: ANN001
    """CIS 1.5.3 in the shell too: limits.d's hard 0 and the profile's `ulimit -c 0` (Lynis KRNL-5820)."""
    assert "ulimit -c 0" in host.file("/etc/profile.d/60-os-baseline.sh").content_string
    assert host.check_output("bash -lc 'ulimit -Sc; ulimit -Hc'").split() == ["0", "0"]
