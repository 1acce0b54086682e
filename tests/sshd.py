"""A throw-away OpenSSH server on a loopback port, for the remote tests and benchmarks.

Its own host key, client keys and authorized_keys in a directory; logs in as root
(so it needs root), and an Ansible inventory of hosts reached through it. Used by
tests/integration/test_remote_ssh.py (fixture `sshd`), the tests built on that
fixture, and benchmarks/fleet_collect_bench.py.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


def loopback_inventory(path: Path, sshd_dir: Path, ports: dict[str, int], *, multiplex: bool = False) -> Path:
    """An Ansible inventory of hosts (name: port) all reached through the loopback sshd.

    multiplex=False adds ControlMaster=no (each connection a fresh login, as the
    tests want); the benchmark keeps Ansible's default connection sharing.
    """
    common = (f"-o UserKnownHostsFile={sshd_dir}/known_hosts -o StrictHostKeyChecking=yes "
              "-o IdentitiesOnly=yes" + ("" if multiplex else " -o ControlMaster=no"))
    hosts = "".join(f"    {name}: {{ansible_port: {port}}}\n" for name, port in ports.items())
    path.write_text(f"""
all:
  vars:
    ansible_host: 127.0.0.1
    ansible_user: root
    ansible_ssh_private_key_file: {sshd_dir}/clientkey
    ansible_ssh_common_args: "{common}"
  hosts:
{hosts}""")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def loopback_sshd(d: Path) -> Iterator[dict[str, object]]:
    """Start sshd on 127.0.0.1 with keys in `d`; yields {"dir", "port"}.

    `d`/clientkey logs in as root; `d`/known_hosts holds the server's key;
    `d`/otherkey is a key the server does not accept. RuntimeError if it does not start.
    """
    for name in ("hostkey", "clientkey", "otherkey"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
                       check=True)
    (d / "authorized_keys").write_text((d / "clientkey.pub").read_text())
    port = free_port()
    # SFTP, so Ansible's fetch_file streams; MaxStartups for many parallel Ansible forks
    (d / "sshd_config").write_text(f"""
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/hostkey
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding no
X11Forwarding no
Subsystem sftp internal-sftp
MaxStartups 200
MaxSessions 200
# Debian's bash runs ~/.bashrc for every command sshd starts (it detects sshd
# through SSH_CLIENT when SHLVL is unset); this machine's root .bashrc runs
# `pyenv init`, a second of shell work per session that no real counting host
# does. SHLVL=1 makes bash skip it: the loopback "hosts" then cost what a host does.
SetEnv SHLVL=1
""")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    with open(d / "sshd.log", "wb") as log:
        proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")],
                                stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("sshd did not start: "
                                       + (d / "sshd.log").read_text()[-500:]) from None
                time.sleep(0.1)
        kt, key = (d / "hostkey.pub").read_text().split()[:2]
        (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {kt} {key}\n")
        (d / "empty_known_hosts").write_text("")
        yield {"dir": d, "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
