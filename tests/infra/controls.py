"""The catalogue of control ids the auditor's suite (tests/infra) checks.

Every test function in tests/infra carries one or more of these ids:

    @pytest.mark.control("CIS-5.1.20")
    def test_root_login_refused(...): ...

or, when each parameter checks a different control, on its parameters:

    pytest.param("cramfs", marks=pytest.mark.control("CIS-1.1.1.1"))

The JUnit XML of a run names each test case with its ids first
("CIS-5.1.20 test_root_login_refused[ansible://count-db]") and lists them as
`control` properties (tests/infra/conftest.py), so an auditor's report reads as a
list of controls, each passed, failed or skipped on each host.

Two kinds of id:

* ``CIS-<number>``: a recommendation of the CIS Debian Linux 12 Benchmark v1.1.0,
  numbered as the benchmark numbers it and as the roles tag the tasks that apply
  it (``tags: [cis_5.1.20]``; `ansible-playbook --tags cis_5.1.20`). The text
  here says what the recommendation requires in one line (a paraphrase of its
  title, with this project's chosen value where the benchmark leaves a choice).
* ``EF-<AREA>-<n>``: this project's own controls (election-freeze), for what the
  benchmark does not cover: the counting database, the results website, the
  monitoring, the freeze itself, and the properties of the hardening roles that
  go beyond CIS (lockout safety, the firewall's inventory allowlists). One area
  per role or group of roles (PREFIXES). Numbers are never reused: a control
  that no test checks any more is removed, not renumbered.

tests/unit/test_control_ids.py keeps this honest: every test in tests/infra has
an id, every id is listed here, every entry here is checked by some test, and
every CIS id is one a role's task is tagged with. `python -m tests.infra.controls`
prints the catalogue as a Markdown table.
"""

from __future__ import annotations

import re

BENCHMARK = "CIS Debian Linux 12 Benchmark v1.1.0"

# The id grammar: CIS-<section numbers> or EF-<AREA>-<n>.
ID_RE = re.compile(r"^(CIS-\d+(?:\.\d+)+|EF-[A-Z]+-[1-9]\d*)$")

# One prefix per area; the README's table "The auditor's suite" lists the same.
PREFIXES: dict[str, str] = {
    "CIS": f"{BENCHMARK} (os_baseline, ssh_hardening, nftables_firewall, audit_trail)",
    "EF-SSH": "ssh_hardening beyond the benchmark",
    "EF-OS": "os_baseline beyond the benchmark",
    "EF-FW": "nftables_firewall: inventory allowlists, device network, self-rollback",
    "EF-AUD": "audit_trail: the counting system's own audit rules and retention",
    "EF-LOCK": "lockout_guard and the operator's access (never locked out)",
    "EF-LOG": "log_shipper and log_collector (acknowledged log delivery)",
    "EF-LYN": "lynis_evidence (Lynis reports as evidence)",
    "EF-SCAP": "openscap_evidence (OpenSCAP results as evidence)",
    "EF-MON": "monitoring: monitoring_server, node_exporter and the other exporters, the watch room's views",
    "EF-DB": "postgresql_server (the counting database)",
    "EF-WEB": "results_website (nginx, WAF, attack mode)",
    "EF-WAZ": "wazuh_agent",
    "EF-FRZ": "the freeze: freeze_watch and the host against its signed manifest",
}

CONTROLS: dict[str, str] = {
    # --- CIS section 1: initial setup ---------------------------------------------------------
    "CIS-1.1.1.1": "the cramfs filesystem module cannot be loaded",
    "CIS-1.1.1.2": "the freevxfs filesystem module cannot be loaded",
    "CIS-1.1.1.3": "the hfs filesystem module cannot be loaded",
    "CIS-1.1.1.4": "the hfsplus filesystem module cannot be loaded",
    "CIS-1.1.1.5": "the jffs2 filesystem module cannot be loaded",
    "CIS-1.1.1.8": "the udf filesystem module cannot be loaded",
    "CIS-1.1.1.9": "the usb-storage module cannot be loaded",
    "CIS-1.1.2.1.1": "/tmp is a separate mount",
    "CIS-1.1.2.1.2": "/tmp is mounted nodev",
    "CIS-1.1.2.1.3": "/tmp is mounted nosuid",
    "CIS-1.1.2.1.4": "/tmp is mounted noexec (and a program there really cannot run)",
    "CIS-1.1.2.2.1": "/dev/shm is a separate mount",
    "CIS-1.1.2.2.2": "/dev/shm is mounted nodev",
    "CIS-1.1.2.2.3": "/dev/shm is mounted nosuid",
    "CIS-1.1.2.2.4": "/dev/shm is mounted noexec",
    "CIS-1.1.2.5.1": "/var/tmp is a separate mount (here: bind-mounted onto itself)",
    "CIS-1.1.2.5.2": "/var/tmp is mounted nodev",
    "CIS-1.1.2.5.3": "/var/tmp is mounted nosuid",
    "CIS-1.1.2.5.4": "/var/tmp is mounted noexec",
    "CIS-1.3.1.1": "AppArmor and its utilities are installed",
    "CIS-1.5.1": "address space layout randomisation is on (kernel.randomize_va_space = 2)",
    "CIS-1.5.2": "ptrace is restricted (kernel.yama.ptrace_scope; 2 here: admin only)",
    "CIS-1.5.3": "core dumps are restricted (fs.suid_dumpable = 0)",
    "CIS-1.6.1": "the message of the day names no OS details",
    "CIS-1.6.2": "the local login banner (/etc/issue) is set and names no OS details",
    "CIS-1.6.3": "the remote login banner (/etc/issue.net) is set and names no OS details",
    # --- CIS section 2: services ----------------------------------------------------------------
    "CIS-2.3.3.3": "chrony is enabled and running",
    "CIS-2.4.1.2": "/etc/crontab is owned by root and readable by root only",
    "CIS-2.4.1.8": "crontab is restricted to the users in cron.allow (no cron.deny)",
    # --- CIS section 3: network ----------------------------------------------------------------
    "CIS-3.2.1": "the dccp module cannot be loaded",
    "CIS-3.2.2": "the tipc module cannot be loaded",
    "CIS-3.2.3": "the rds module cannot be loaded",
    "CIS-3.2.4": "the sctp module cannot be loaded",
    "CIS-3.3.1": "IP forwarding is off",
    "CIS-3.3.2": "sending packet redirects is off",
    "CIS-3.3.3": "bogus ICMP error responses are ignored",
    "CIS-3.3.4": "broadcast ICMP requests are ignored",
    "CIS-3.3.5": "ICMP redirects are not accepted (IPv4 and IPv6)",
    "CIS-3.3.6": "secure ICMP redirects are not accepted",
    "CIS-3.3.7": "reverse path filtering is on",
    "CIS-3.3.8": "source-routed packets are not accepted",
    "CIS-3.3.9": "suspicious (martian) packets are logged",
    "CIS-3.3.10": "TCP SYN cookies are on",
    "CIS-3.3.11": "IPv6 router advertisements are not accepted",
    # --- CIS section 4.3: nftables --------------------------------------------------------------
    "CIS-4.3.5": "nftables base chains hook input (and forward)",
    "CIS-4.3.8": "nftables default policy is drop for inbound and forwarded traffic",
    "CIS-4.3.9": "the nftables service is enabled and active",
    "CIS-4.3.10": "the nftables rules are permanent (/etc/nftables.conf, checked with nft -c)",
    # --- CIS section 5.1: sshd ------------------------------------------------------------------
    "CIS-5.1.1": "/etc/ssh/sshd_config is owned by root and readable by root only",
    "CIS-5.1.4": "sshd access is limited (AllowUsers names the operator)",
    "CIS-5.1.6": "sshd offers no weak ciphers (no CBC, arcfour, 3DES, blowfish, cast128)",
    "CIS-5.1.8": "sshd DisableForwarding is on (no TCP, agent, X11 or stream-local forwarding)",
    "CIS-5.1.10": "sshd HostbasedAuthentication is off",
    "CIS-5.1.11": "sshd IgnoreRhosts is on",
    "CIS-5.1.12": "sshd offers no weak key exchange (no SHA-1, group1/group14, NIST curves, group exchange)",
    "CIS-5.1.14": "sshd LogLevel is VERBOSE or INFO",
    "CIS-5.1.15": "sshd offers no weak MACs (no MD5, SHA-1, 64-bit tags, RIPEMD)",
    "CIS-5.1.16": "sshd MaxAuthTries is 4 or less",
    "CIS-5.1.17": "sshd MaxSessions is 2 or less",
    "CIS-5.1.19": "sshd PermitEmptyPasswords is off",
    "CIS-5.1.20": "sshd PermitRootLogin is off",
    "CIS-5.1.21": "sshd PermitUserEnvironment is off",
    # --- CIS section 5.2-5.4: sudo, su, PAM, accounts --------------------------------------------
    "CIS-5.2.7": "su is restricted to the members of a group kept empty (pam_wheel)",
    "CIS-5.3.2.2": "pam_faillock is in the PAM stacks (preauth, authfail/authsucc, account)",
    "CIS-5.3.2.3": "pam_pwquality is in the password stack",
    "CIS-5.3.3.1.1": "failed password attempts lock an account (deny = 4 here)",
    "CIS-5.3.3.2.2": "passwords have at least 14 characters",
    "CIS-5.3.3.2.3": "passwords mix character classes (minclass 4, a digit, another character)",
    "CIS-5.3.3.2.8": "password quality is enforced for root too",
    "CIS-5.4.1.1": "passwords expire after 365 days at most (PASS_MAX_DAYS)",
    "CIS-5.4.1.4": "passwords are hashed with a strong method (YESCRYPT)",
    "CIS-5.4.1.5": "accounts are disabled 45 days at most after password expiry (useradd INACTIVE)",
    "CIS-5.4.3.2": "interactive shells time out (TMOUT 900, read-only)",
    "CIS-5.4.3.3": "the default umask is 027 (login.defs, login and non-login shells)",
    # --- CIS section 6: logging and auditing -----------------------------------------------------
    "CIS-6.1.2.3": "journald compresses large files (Compress=yes)",
    "CIS-6.1.2.4": "journald writes logs to persistent disk (Storage=persistent)",
    "CIS-6.1.3.1": "rsyslog is installed",
    "CIS-6.1.3.2": "rsyslog is enabled and running",
    "CIS-6.1.3.3": "journald sends logs to rsyslog (ForwardToSyslog=yes)",
    "CIS-6.2.1.2": "auditd is enabled and running",
    "CIS-6.2.2.2": "audit logs are never deleted automatically (max_log_file_action = keep_logs)",
    "CIS-6.2.3.1": "changes to sudoers are audited (key scope)",
    "CIS-6.2.3.2": "actions as another user are audited (key user_emulation)",
    "CIS-6.2.3.3": "changes to the sudo log file are audited (key sudo_log_file)",
    "CIS-6.2.3.4": "date and time changes are audited (key time-change)",
    "CIS-6.2.3.5": "network environment changes are audited (key system-locale)",
    "CIS-6.2.3.6": "each use of a privileged command is audited (key privileged)",
    "CIS-6.2.3.7": "unsuccessful file access is audited (key access)",
    "CIS-6.2.3.8": "user and group changes are audited (key identity)",
    "CIS-6.2.3.9": "permission, owner and attribute changes are audited (key perm_mod)",
    "CIS-6.2.3.10": "mounts are audited (key mounts)",
    "CIS-6.2.3.11": "session initiation is audited (key session)",
    "CIS-6.2.3.12": "logins and logouts are audited (key logins)",
    "CIS-6.2.3.13": "file deletions by users are audited (key delete)",
    "CIS-6.2.3.15": "chcon runs are audited (key perm_chng)",
    "CIS-6.2.3.16": "setfacl runs are audited (key perm_chng)",
    "CIS-6.2.3.17": "chacl runs are audited (key perm_chng)",
    "CIS-6.2.3.19": "kernel module loading and unloading is audited (key kernel_modules)",
    "CIS-6.2.3.20": "the audit configuration is immutable (-e 2: the kernel refuses rule changes)",
    "CIS-6.3.1": "AIDE is installed with the role's rule set and its database is built",
    "CIS-6.3.2": "a systemd timer runs the AIDE check periodically",
    "CIS-6.3.3": "AIDE hashes the audit tools with SHA-512",
    # --- CIS section 7: system maintenance --------------------------------------------------------
    "CIS-7.1.13": "set-id files are reviewed: only the allowlisted programs keep a SUID/SGID bit",
    "CIS-7.2.9": "interactive accounts' home directories are 0750 or stricter (no group write, nothing for others)",
    "CIS-7.2.10": "their dot files are 0740 or stricter; .bash_history and .netrc 0600",
    # --- EF-SSH: ssh_hardening beyond CIS ---------------------------------------------------------
    "EF-SSH-1": "sshd accepts public keys only: password and keyboard-interactive logins are refused",
    "EF-SSH-2": "sshd offers no weak host key algorithms (no ssh-rsa SHA-1, DSA, NIST curves)",
    "EF-SSH-3": "sshd sends no TCP keepalives and does not compress",
    "EF-SSH-4": "sshd runs as ssh.service (enabled, running), not socket-activated",
    # --- EF-OS: os_baseline beyond CIS ------------------------------------------------------------
    "EF-OS-1": "kernel hardening beyond CIS: dmesg and kernel pointers restricted, protected links, "
               "FIFOs and regular files, core files named by PID",
    "EF-OS-2": "the FireWire drivers cannot be loaded (DMA from a plugged device)",
    "EF-OS-3": "the set-id, world-writable and unowned files found are kept as a local Ansible fact",
    "EF-OS-4": "the key-only operator is exempt from password ageing (an expiry would block key logins)",
    "EF-OS-5": "debsums and process accounting are installed, and accounting records commands",
    "EF-OS-6": "AppArmor is enabled in the kernel with Debian's profiles in enforce mode",
    "EF-OS-7": "USBGuard runs and blocks USB devices no rule allows, including controllers at start",
    # --- EF-FW: nftables_firewall -----------------------------------------------------------------
    "EF-FW-1": "SSH is allowed in the same table as the default deny (one transaction)",
    "EF-FW-2": "only SSH and the host's inventory-group services are open; restricted ones name their sources",
    "EF-FW-3": "the device network's MAC allowlist is exactly the inventory's registered devices",
    "EF-FW-4": "only registered MACs reach the transmission service; other frames are dropped and counted",
    "EF-FW-5": "a ruleset that cuts SSH is restored by the host's timer when the controller is gone",
    "EF-FW-6": "a ruleset that cuts SSH is restored at once through the still-open control connection",
    # --- EF-AUD: audit_trail ----------------------------------------------------------------------
    "EF-AUD-1": "every command run as root by a logged-in person is audited with its arguments",
    "EF-AUD-2": "auditing never halts counting: a full audit disk suspends auditing, not the host",
    # --- EF-LOCK: lockout_guard and the operator's access ------------------------------------------
    "EF-LOCK-1": "the operator keeps access: a fresh key login and passwordless sudo work",
    "EF-LOCK-2": "the lockout pre-flight passes for the real operator",
    "EF-LOCK-3": "the pre-flight refuses, changing nothing, an SSH policy that excludes the operator",
    "EF-LOCK-4": "the pre-flight refuses when privilege escalation needs a password",
    "EF-LOCK-5": "the post-role verify opens a fresh login and passes on a healthy host",
    # --- EF-LOG: log_shipper and log_collector ------------------------------------------------------
    "EF-LOG-1": "the collector listens for RELP over TLS with a valid rsyslog configuration",
    "EF-LOG-2": "the collector's store is root-only and a daily job enforces the retention",
    "EF-LOG-3": "each host ships with RELP over TLS and its TLS key is root-only",
    "EF-LOG-4": "an audit event on a counting server is stored by the collector within 5 seconds",
    "EF-LOG-5": "the running shipper has the CPU weight the inventory gives it (below the database's there)",
    "EF-LOG-6": "the running shipper watches its files the way the inventory says (inotify or polling)",
    # --- EF-LYN: lynis_evidence -------------------------------------------------------------------
    "EF-LYN-1": "a local fact per phase summarises a real Lynis run of this host",
    "EF-LYN-2": "the raw Lynis report stays on the host, root-only, and matches the fact",
    "EF-LYN-3": "Ansible reads the summary back as ansible_local.lynis_<phase>",
    # --- EF-SCAP: openscap_evidence ---------------------------------------------------------------
    "EF-SCAP-1": "a local fact per phase summarises a real OpenSCAP scan of this host",
    "EF-SCAP-2": "the ARF results and HTML report stay on the host, root-only, and match the fact's sha256",
    # --- EF-MON: monitoring -----------------------------------------------------------------------
    "EF-MON-1": "Prometheus, Alertmanager and the blackbox exporter are enabled and running",
    "EF-MON-2": "the monitoring services listen on the private address and loopback only",
    "EF-MON-3": "every counting server's node target and every probe is up in Prometheus",
    "EF-MON-4": "the alert rules are loaded and Prometheus is connected to Alertmanager",
    "EF-MON-5": "the Prometheus, Alertmanager and blackbox configurations pass their validators",
    "EF-MON-6": "the node exporter is enabled, running and sandboxed as user prometheus",
    "EF-MON-7": "the node exporter listens on the private (monitoring) address only",
    "EF-MON-8": "the node exporter serves host metrics and the textfile collector's",
    "EF-MON-9": "the live traffic report (goaccess) runs as an unprivileged, sandboxed dynamic user",
    "EF-MON-10": "the traffic report listens on the monitoring address only, its WebSocket on loopback only",
    "EF-MON-11": "the traffic report page is served with its security headers and no version",
    "EF-MON-12": "the traffic report's WebSocket accepts the page's own origin only",
    "EF-MON-13": "the results website's access lines reach the collector's live feed, unaltered, within 10 s",
    "EF-MON-14": "the database primary's and the web tier's exporters are up in Prometheus with real figures",
    "EF-MON-15": "the PostgreSQL exporter on the primary is enabled, running and sandboxed as user prometheus",
    "EF-MON-16": "the PostgreSQL exporter listens on the private address only and answers the monitoring host alone",
    "EF-MON-17": "the PostgreSQL exporter's login: pg_monitor only, no password, socket to the postgres database only",
    "EF-MON-18": "the PostgreSQL exporter reports each standby streaming and its lag, back to 0 after a write",
    "EF-MON-19": "the nginx exporter is enabled, running and sandboxed as user prometheus",
    "EF-MON-20": "the nginx exporter listens on the private address only and answers the monitoring host alone",
    "EF-MON-21": "nginx's status page is on loopback only: not on the public site, not in the access log",
    "EF-MON-22": "the nginx exporter reports nginx up and counts the site's requests",
    "EF-MON-23": "Prometheus never ran with Debian's default configuration (no series from its default targets)",
    # --- EF-DB: postgresql_server -----------------------------------------------------------------
    "EF-DB-1": "PostgreSQL listens on the inventory's addresses only",
    "EF-DB-2": "logins are TLS-only with scram-sha-256; no superuser login over the network",
    "EF-DB-3": "TLS 1.2+, scram password encryption, connection logging and pgaudit are configured",
    "EF-DB-4": "no MD5 password hash, no superuser with a password, no login superuser but postgres",
    "EF-DB-5": "the writer role writes only from the application host",
    "EF-DB-6": "the auditor role only reads",
    "EF-DB-7": "DDL, role changes and result writes are in the audit log with the user",
    "EF-DB-8": "a write reaches the standby within a second, and the standby refuses writes",
    "EF-DB-9": "the standby streams over TLS from its slot, and the lag can be queried",
    # --- EF-WEB: results_website ------------------------------------------------------------------
    "EF-WEB-1": "every results page and asset is served intact, with the site's query strings",
    "EF-WEB-2": "pages are cacheable (public, max-age, Last-Modified, ETag)",
    "EF-WEB-3": "the WAF (ModSecurity + OWASP CRS) blocks attacks and logs each with its rule id",
    "EF-WEB-4": "the WAF audit log is private and keeps being written across its rotation",
    "EF-WEB-5": "oversized bodies, URIs and headers are refused",
    "EF-WEB-6": "the security headers are on every response status",
    "EF-WEB-7": "HTTP redirects to HTTPS, with the security headers",
    "EF-WEB-8": "TLS 1.0 and 1.1 are refused, TLS 1.2 and 1.3 work",
    "EF-WEB-9": "the server version is not leaked",
    "EF-WEB-10": "a flooding client gets 429; an allowlisted network is never limited",
    "EF-WEB-11": "the access log is JSON with the request id",
    "EF-WEB-12": "both modes (normal, attack) are static files, a symlink selects one, switches are logged",
    "EF-WEB-13": "switching attack mode on drops no request and is logged on the host",
    "EF-WEB-14": "in attack mode a flood is limited while normal and allowlisted clients are served",
    "EF-WEB-15": "cached pages are served when the results application is down",
    "EF-WEB-16": "attack mode off restores the normal limits, and attack mode reverts by itself",
    "EF-WEB-17": "a request over the rate limit is answered 429 before the WAF inspects it",
    # --- EF-WAZ: wazuh_agent ----------------------------------------------------------------------
    "EF-WAZ-1": "the Wazuh agent is installed from the local repository, enabled and running",
    "EF-WAZ-2": "the agent's configuration is private, names the inventory's managers and is valid",
    "EF-WAZ-3": "the enrollment secret is a private file and appears in no log",
    "EF-WAZ-4": "the agent enrolled exactly once, with the inventory's identity",
    "EF-WAZ-5": "the who-data audit rules are in the immutable kernel rule set",
    "EF-WAZ-6": "a write under a who-data directory reaches the agent with who made it",
    # --- EF-FRZ: the freeze -----------------------------------------------------------------------
    "EF-FRZ-1": "the freeze_watch timer is enabled and runs at the inventory's period",
    "EF-FRZ-2": "the freeze_watch check is sandboxed: read-only system, no network",
    "EF-FRZ-3": "the last freeze_watch check succeeded and wrote nothing but its metric",
    "EF-FRZ-4": "the node exporter serves freeze_watch's verdict",
    "EF-FRZ-5": "the host matches its signed freeze manifest: signature first, then no drift",
}


def prefix_of(control: str) -> str:
    """The area prefix of an id: "CIS" or "EF-AREA"."""
    return "CIS" if control.startswith("CIS-") else control.rsplit("-", 1)[0]


def sort_key(control: str) -> tuple[str, tuple[int, ...]]:
    """Numeric order within an area (CIS-3.3.10 after CIS-3.3.9, EF-WEB-10 after EF-WEB-9)."""
    number = control.removeprefix("CIS-") if control.startswith("CIS-") else control.rsplit("-", 1)[1]
    return prefix_of(control), tuple(int(n) for n in number.split("."))


def markdown() -> str:
    """The catalogue as a Markdown table (for an audit report)."""
    rows = ["| control | requires |", "|---|---|"]
    rows += [f"| {c} | {CONTROLS[c]} |" for c in sorted(CONTROLS, key=sort_key)]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown())
