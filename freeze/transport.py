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

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from freeze.errors import InputError, UnavailableError

if TYPE_CHECKING:
    from freeze.collect.common import Progress

_HOST_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
                      r"(?::(?P<port>\d{1,5}))?$")


class Transport(Protocol):
    """Where a snapshot's system collectors run (this host, or one host over SSH)."""

    name: str

    def collect(self, spec: dict[str, Any], *, growing: dict[str, int],
                progress: Progress | None = None,
                known: dict[str, Any] | None = None) -> dict[str, Any]:
        """The collected document: {"host", "sections", "unavailable", "facts"}."""
        ...


class LocalTransport:
    """Run the collectors in this process, on this host."""

    name = "local"

    def collect(self, spec: dict[str, Any], *, growing: dict[str, int],
                progress: Progress | None = None,
                known: dict[str, Any] | None = None) -> dict[str, Any]:
        from freeze.collect import error_for
        from freeze.collect.common import CollectError
        from freeze.collect.runner import run_all

        try:
            return run_all(spec, growing, progress, known)
        except CollectError as exc:
            raise error_for(exc.kind, str(exc)) from None


# freeze's modules a host needs to judge files itself, in load order
JUDGE_MODULES = ("rotation", "judge")


def collector_sources() -> dict[str, str]:
    """{"freeze.collect.NAME": source} of the standard-library collectors, in load order.

    The one copy of the collector code that leaves this host: `remote_script`
    embeds it, the `election.freeze.freeze_collect` action plugin sends it to its
    module.
    """
    from freeze.collect.runner import COLLECTOR_MODULES

    base = Path(__file__).resolve().parent / "collect"
    return {f"freeze.collect.{m}": (base / f"{m}.py").read_text("utf-8")
            for m in COLLECTOR_MODULES}


def judge_sources() -> dict[str, str]:
    """{"rotation": source, "judge": source}: freeze's standard-library file judges in load
    order (freeze.judge imports freeze.rotation), the one copy the freeze_watch role's
    on-host checker runs."""
    base = Path(__file__).resolve().parent
    return {m: (base / f"{m}.py").read_text("utf-8") for m in JUDGE_MODULES}


def remote_script(request: dict[str, Any],
                  by_host: dict[str, dict[str, Any]] | None = None) -> bytes:
    """The bootstrap program run by the host's python3: collector sources + the request.

    With `by_host`, the program picks its request by the host name given as its
    first argument (Ansible passes `inventory_hostname`), else uses `request`.
    """
    sources = collector_sources()
    # Sources and request travel as base64 of JSON: plain data whatever characters
    # they hold, never code assembled from input.
    def blob(value: Any) -> str:
        return repr(base64.b64encode(json.dumps(value).encode("utf-8")).decode("ascii"))

    program = f"""\
import base64, json, sys, types
def blob(text):
    return json.loads(base64.b64decode(text).decode("utf-8"))
SOURCES = blob({blob(sources)})
REQUEST = blob({blob(request)})
BY_HOST = blob({blob(by_host or {})})
if len(sys.argv) > 1 and sys.argv[1] in BY_HOST:
    REQUEST = BY_HOST[sys.argv[1]]
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

    def _connect(self) -> Any:
        from freeze.extras import require_extra

        paramiko = require_extra("paramiko", "ssh")

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
        except (TimeoutError, OSError) as exc:
            client.close()
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise UnavailableError(f"host {where}: unreachable: {reason[:160]}") from None
        return client

    def collect(self, spec: dict[str, Any], *, growing: dict[str, int],
                progress: Progress | None = None,
                known: dict[str, Any] | None = None) -> dict[str, Any]:
        # `known` (the verified manifest's files) is not used: the remote answer
        # arrives as one JSON document, so sharing entries would not lower the peak
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
            return _collector_result(data, f"host {self.target}")
        except ValueError:
            line = next((ln for ln in err.splitlines() if ln.strip()), f"exit status {status}")
            raise UnavailableError(f"host {self.target}: remote collector failed: "
                                   f"{line[-200:]}") from None


class AnsibleInventory:
    """Run the collectors on every host of an Ansible inventory, in parallel.

    `ansible-playbook` runs the collection's playbook `election.freeze.collect`,
    whose module `election.freeze.freeze_collect` collects each host through
    Ansible's own connection (the inventory's users, keys, ports, SSH options,
    become, forks) and streams the collected document to a file here; the
    playbook writes every host's outcome to status.json. Nothing is read from
    Ansible's output. Nothing is installed on the hosts.
    """

    def __init__(self, inventory: str, *, profile_path: str, limit: str = "all",
                 become: bool = False, forks: int = 10, timeout: float = 1800.0) -> None:
        self.inventory = inventory
        self.profile_path = profile_path
        self.limit = limit
        self.become = become
        self.forks = forks
        self.timeout = timeout

    def _ansible_playbook(self) -> str:
        import shutil
        import sys

        candidates = [Path(sys.executable).with_name("ansible-playbook"),
                      shutil.which("ansible-playbook")]
        for c in candidates:
            if c and Path(c).exists():
                return str(c)
        raise UnavailableError("ansible-playbook is not installed "
                               "(pip install 'election-freeze[ops]')")

    def collect_all(self, profile_digest: str | dict[str, str], growing_by_host: dict[str, dict[str, int]]
                    ) -> dict[str, dict[str, Any] | Exception]:
        """{inventory_hostname: collected doc, or the error for that host}.

        `profile_digest` is the profile the caller builds the manifests with (or, with
        `profile_path` a directory of HOST.profile.yml files, each host's): a host
        collected with another profile (the file changed meanwhile) is an error.
        """
        import os
        import subprocess
        import tempfile

        if not Path(self.inventory).exists():
            from freeze.errors import NoInputError

            raise NoInputError(f"{self.inventory}: no such inventory")
        with tempfile.TemporaryDirectory(prefix="freeze-ansible-") as tmp:
            out = Path(tmp, "collected")
            out.mkdir(mode=0o700)
            extra = Path(tmp, "vars.json")
            profile = os.path.abspath(self.profile_path)
            extra.write_text(json.dumps({
                ("freeze_collect_profiles_dir" if os.path.isdir(profile) else "freeze_collect_profile"): profile,
                "freeze_collect_dir": str(out), "freeze_collect_output": "collected",
                "freeze_collect_hosts": self.limit, "freeze_collect_growing": growing_by_host,
            }), "utf-8")
            argv = [self._ansible_playbook(), "-i", self.inventory, "--forks", str(self.forks),
                    "-e", f"@{extra}", "election.freeze.collect"]
            if self.become:
                argv.append("--become")
            env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0")
            collections = _collection_path(Path(tmp))
            if collections:
                env["ANSIBLE_COLLECTIONS_PATH"] = collections
            try:
                proc = subprocess.run(argv, capture_output=True, env=env, timeout=self.timeout,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise UnavailableError(f"ansible-playbook did not finish within "
                                       f"{self.timeout:.0f} s") from None
            try:
                status = json.loads(Path(out, "status.json").read_bytes())
            except (OSError, ValueError):
                text = (proc.stderr or proc.stdout).decode("utf-8", "replace")
                err = next((ln.strip() for ln in text.splitlines()
                            if ln.strip().startswith(("ERROR", "[ERROR]", "fatal"))),
                           next((ln for ln in text.splitlines() if ln.strip()),
                                f"exit status {proc.returncode}"))
                raise UnavailableError(f"inventory {self.inventory}: ansible-playbook failed: "
                                       f"{err.strip()[:200]}") from None
            return results_from_status(status, profile_digest)


def _collection_path(tmp: Path) -> str | None:
    """ANSIBLE_COLLECTIONS_PATH that finds this checkout as election.freeze, if it is one.

    The repository root is the collection (galaxy.yml beside the freeze package);
    an installed freeze without it relies on an installed collection.
    """
    import os

    root = Path(__file__).resolve().parent.parent
    if not (root / "galaxy.yml").is_file() or not (root / "plugins/modules/freeze_collect.py").is_file():
        return None
    link = tmp / "collections" / "ansible_collections" / "election"
    link.mkdir(parents=True)
    (link / "freeze").symlink_to(root)
    default = "~/.ansible/collections:/usr/share/ansible/collections"
    return f"{tmp / 'collections'}:{os.environ.get('ANSIBLE_COLLECTIONS_PATH', default)}"


def results_from_status(status: dict[str, Any], profile_digest: str | dict[str, str]
                        ) -> dict[str, dict[str, Any] | Exception]:
    """Each host's collected document (read from the file its status names) or error."""
    from freeze.collect import error_for

    out: dict[str, dict[str, Any] | Exception] = {}
    for host, res in status.items():
        res = res if isinstance(res, dict) else {}
        msg = " ".join(str(res.get("msg", "")).split())[:200]
        if res.get("unreachable"):
            out[host] = UnavailableError(f"host {host}: unreachable: {msg}")
        elif res.get("failed") or not res.get("dest"):
            kind = str(res.get("kind", ""))
            out[host] = (error_for(kind, f"host {host}: {msg}") if kind
                         else UnavailableError(f"host {host}: collection failed: "
                                               f"{msg or 'no result'}"))
        elif res.get("profile_sha256") != (profile_digest if isinstance(profile_digest, str)
                                           else profile_digest.get(host)):
            out[host] = InputError(f"host {host}: collected with another profile "
                                   "(the profile file changed during the run)")
        else:
            try:
                with open(res["dest"], "rb") as fh:
                    doc = json.load(fh)
            except (OSError, ValueError) as exc:
                out[host] = UnavailableError(f"host {host}: collected document unreadable: {exc}")
                continue
            if not isinstance(doc, dict) or not {"host", "sections", "unavailable",
                                                  "facts"} <= doc.keys():
                out[host] = UnavailableError(f"host {host}: collected document malformed")
            else:
                out[host] = doc
    return out


def _collector_result(output: bytes | str, where: str) -> dict[str, Any]:
    """The collected document in the remote program's reply (runner.remote_main).

    ValueError when the output is not such a reply: not JSON, or JSON of another
    shape (the caller reports that the remote collector failed, as it would for
    any garbage). The collector's own error, when the reply reports one, is raised
    as its FreezeError with `where` in front of the message.
    """
    from freeze.collect import error_for

    reply = json.loads(output)
    if not isinstance(reply, dict):
        raise ValueError("the reply is not a JSON object")
    if not reply.get("ok"):
        raise error_for(str(reply.get("kind", "")), f"{where}: {reply.get('message')}")
    result = reply.get("result")
    if not isinstance(result, dict):
        raise ValueError("the reply holds no collected document")
    return result


def transport_from_options(*, host: str | None, identity: str | None = None,
                           known_hosts: str | None = None, sudo: bool = False,
                           inventory: str | None = None) -> SSHTransport | None:
    """The transport the snapshot/verify options name: None means this host.

    Checks that the options go together (--host excludes --inventory; the SSH
    options need --host).
    """
    from freeze.errors import UsageError

    if inventory and host:
        raise UsageError("--host and --inventory exclude each other")
    if not host:
        if identity or known_hosts or sudo:
            raise UsageError("--identity/--known-hosts/--sudo need --host")
        return None
    return SSHTransport(SSHTarget.parse(host), key_file=identity, known_hosts=known_hosts,
                        sudo=sudo)
