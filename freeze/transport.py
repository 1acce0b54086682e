"""Where the system collectors run: this host, or a remote host over SSH.

Remote collection installs nothing on the target. The standard-library-only
collector modules are shipped as source inside a small bootstrap script that the
host's own `python3 -` reads from stdin; it registers them as modules in memory
(nothing is written to the target's disk), runs them with the operator's
profile spec, and streams one JSON document back on stdout.

SSH (paramiko): key file or agent authentication, strict host-key checking
(unknown or changed host keys are refused); the known_hosts file defaults to
~/.ssh/known_hosts and can be given explicitly. Any failure to reach or
authenticate becomes a one-line UnavailableError (exit 69).
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freeze.errors import InputError, UnavailableError

_HOST_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
                      r"(?::(?P<port>\d{1,5}))?$")


class LocalTransport:
    """Run the collectors in this process, on this host."""

    name = "local"

    def collect(self, spec: dict[str, Any], *, growing: dict[str, int],
                progress: Any = None) -> dict[str, Any]:
        from freeze.collect import error_for
        from freeze.collect.common import CollectError
        from freeze.collect.runner import run_all

        try:
            return run_all(spec, growing, progress)
        except CollectError as exc:
            raise error_for(exc.kind, str(exc)) from None


def remote_script(request: dict[str, Any]) -> bytes:
    """The bootstrap program sent to `python3 -`: collector sources + the request."""
    from freeze.collect.runner import COLLECTOR_MODULES

    base = Path(__file__).resolve().parent / "collect"
    sources = {f"freeze.collect.{m}": (base / f"{m}.py").read_text("utf-8")
               for m in COLLECTOR_MODULES}
    # The request and sources are embedded as JSON string literals: data, not code
    # built from input.
    program = f"""\
import json, sys, types
SOURCES = json.loads({json.dumps(json.dumps(sources))})
REQUEST = json.loads({json.dumps(json.dumps(request))})
for pkg in ("freeze", "freeze.collect"):
    mod = types.ModuleType(pkg)
    mod.__path__ = []
    sys.modules[pkg] = mod
sys.modules["freeze"].collect = sys.modules["freeze.collect"]
for name in {json.dumps(list(sources))}:
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    setattr(sys.modules["freeze.collect"], name.rsplit(".", 1)[1], mod)
    exec(compile(SOURCES[name], "<freeze:" + name + ">", "exec"), mod.__dict__)
sys.exit(sys.modules["freeze.collect.runner"].remote_main(REQUEST))
"""
    return program.encode("utf-8")


@dataclass
class SSHTarget:
    user: str | None
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> SSHTarget:
        m = _HOST_RE.match(text or "")
        if not m:
            raise InputError(f"--host {text!r}: expected [user@]host[:port]")
        port = int(m.group("port") or 22)
        if not 0 < port < 65536:
            raise InputError(f"--host {text!r}: port out of range")
        return cls(user=m.group("user"), host=m.group("host").strip("[]"), port=port)

    def __str__(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}:{self.port}"


class SSHTransport:
    """Run the collectors on a remote host through SSH and `python3 -`."""

    name = "ssh"

    def __init__(self, target: SSHTarget, *, key_file: str | None = None,
                 known_hosts: str | None = None, sudo: bool = False,
                 timeout: float = 15.0, python: str = "python3") -> None:
        self.target = target
        self.key_file = key_file
        self.known_hosts = known_hosts
        self.sudo = sudo
        self.timeout = timeout
        self.python = python

    def _connect(self):
        import paramiko

        client = paramiko.SSHClient()
        try:
            if self.known_hosts:
                client.load_host_keys(self.known_hosts)
            else:
                client.load_system_host_keys()
        except (OSError, paramiko.SSHException) as exc:
            raise InputError(f"known_hosts {self.known_hosts or '~/.ssh/known_hosts'}: "
                             f"cannot read: {exc}") from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = str(self.target)
        try:
            client.connect(
                self.target.host, port=self.target.port, username=self.target.user,
                key_filename=self.key_file, allow_agent=True,
                look_for_keys=self.key_file is None, timeout=self.timeout,
                banner_timeout=self.timeout, auth_timeout=self.timeout,
            )
        except paramiko.BadHostKeyException:
            client.close()
            raise UnavailableError(f"host {where}: HOST KEY DOES NOT MATCH known_hosts "
                                   "(refusing to connect)") from None
        except paramiko.AuthenticationException:
            client.close()
            raise UnavailableError(f"host {where}: SSH authentication failed") from None
        except paramiko.SSHException as exc:
            client.close()
            text = str(exc)
            if "not found in known_hosts" in text:
                raise UnavailableError(f"host {where}: host key not in known_hosts "
                                       "(strict host-key checking; pass --known-hosts)") from None
            raise UnavailableError(f"host {where}: SSH error: {text[:160]}") from None
        except (OSError, socket.timeout) as exc:
            client.close()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise UnavailableError(f"host {where}: unreachable: {reason[:160]}") from None
        return client

    def collect(self, spec: dict[str, Any], *, growing: dict[str, int],
                progress: Any = None) -> dict[str, Any]:
        from freeze.collect import error_for

        script = remote_script({"spec": spec, "growing": growing})
        client = self._connect()
        try:
            command = f"{'sudo -n ' if self.sudo else ''}{self.python} -"
            stdin, stdout, stderr = client.exec_command(command, timeout=None)
            stdin.write(script)
            stdin.flush()
            stdin.channel.shutdown_write()
            chunks = []
            while True:
                chunk = stdout.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
            status = stdout.channel.recv_exit_status()
            err = stderr.read().decode("utf-8", "replace")
        except (OSError, EOFError) as exc:
            raise UnavailableError(f"host {self.target}: connection lost: {exc}") from None
        finally:
            client.close()
        data = b"".join(chunks)
        if status == 127:
            raise UnavailableError(f"host {self.target}: {self.python} not found on the host")
        try:
            reply = json.loads(data)
        except ValueError:
            line = next((ln for ln in err.splitlines() if ln.strip()), f"exit status {status}")
            raise UnavailableError(f"host {self.target}: remote collector failed: "
                                   f"{line[-200:]}") from None
        if not reply.get("ok"):
            raise error_for(reply.get("kind", ""), f"host {self.target}: {reply.get('message')}")
        return reply["result"]
