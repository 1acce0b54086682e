#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Collect the frozen state of one host for `freeze` (files, packages, services, ...).

Why a module: `freeze snapshot --inventory` used to run a bootstrap script through
the ad-hoc `ansible` command and scrape its stdout. This module runs the same
collectors through Ansible's own connection and become, writes the collected
document to a root-only file on the host, and its action plugin streams that file
to the controller with the connection's fetch_file (never through the module's
JSON return, never whole in memory) and builds the canonical manifest there with
freeze's own snapshot code.
"""
from __future__ import annotations

DOCUMENTATION = r"""
module: freeze_collect
short_description: Collect one host's frozen state and bring it to the controller as a freeze manifest
description:
  - Runs the standard-library collectors of the C(freeze) tool (files with SHA-256,
    packages, services, accounts, network, kernel) on the host with its own Python,
    through Ansible's connection and privilege escalation. Nothing is installed on
    the host; the action plugin sends the collector source (read on the controller
    from the installed C(freeze) package, the same source C(freeze snapshot --host)
    ships) and the module loads it in memory.
  - Writes the collected JSON document to O(result_dir)/collected.json (mode 0600,
    the directory 0700), replacing the previous one atomically.
  - The action plugin streams the document to the controller with the connection's
    file transfer (not through the module result, not through C(slurp)), checks its
    SHA-256 and builds the canonical manifest with C(freeze)'s snapshot code, so a
    manifest taken here is byte for byte the one C(freeze snapshot --host) takes of
    the same unchanged host.
  - The database section of a profile is collected on the controller (as
    C(freeze snapshot) does), from the DSN the profile names.
  - Collection is read-only, so the module never reports C(changed). The result file
    is the module's working data, not managed state.
  - Needs the C(freeze) Python package on the controller (C(pip install election-freeze)).
version_added: 0.1.0
author: election-freeze maintainers
attributes:
  check_mode:
    support: full
    details: In check mode the host is collected as in a normal run (collection only
      reads) and the document still reaches the controller, but through Ansible's
      temporary directory only; O(result_dir) is neither created nor written.
options:
  profile:
    description: The freeze profile (YAML) on the controller. Validated there; a malformed
      profile fails the task with the key it names.
    type: path
    required: true
  dest:
    description: File on the controller to write (the canonical manifest, or with
      O(output=collected) the collected document). Its directory must exist.
      O(dest) or O(baseline) is required.
    type: path
  baseline:
    description:
      - A manifest on the controller (the host's signed one) to verify the host against,
        as C(freeze verify) does; the profile must be the one it was taken with. Growing
        files are hashed up to their recorded sizes. The result then has RV(drift),
        RV(drift_clean), RV(drift_items). Drift does not fail the task (the playbook
        decides, see C(playbooks/verify.yml)).
    type: path
  output:
    description: C(manifest) writes the canonical freeze manifest (database included when
      the profile names one); C(collected) writes the host's collected document only
      (C(freeze snapshot --inventory) adds the database, collected once for all hosts).
    type: str
    choices: [manifest, collected]
    default: manifest
  force:
    description: Replace O(dest) if it exists (otherwise the task fails).
    type: bool
    default: false
  growing:
    description: Byte sizes of growing files (path to size) already recorded; only
      the bytes up to these sizes are hashed for them (as C(freeze verify) does).
    type: dict
    default: {}
  result_dir:
    description: Directory on the host for the root-only result file (created 0700).
    type: path
    default: /var/lib/election-freeze
  envelope:
    description:
      - With O(baseline) and O(root), the signed manifest envelope (DSSE, from the ceremony)
        that must cover the baseline. Checked on the controller BEFORE the host is touched,
        as C(freeze verify-envelope --type manifest --root ROOT) does (threshold, root
        self-signature, ceremony binding, expiry); its subject must be the baseline's
        sha256, or the sha256 of O(fleet) naming the baseline's sha256 for this host.
        Otherwise the task fails with C(manifest is not the signed one) and nothing runs
        on the host.
    type: path
  root:
    description: The ceremony root envelope (C(root.json)) to check O(envelope) against.
    type: path
  fleet:
    description: The signed fleet manifest (C(freeze-fleet/v1), written by
      C(playbooks/freeze-ceremony.yml)) when O(envelope) signs one for several hosts.
    type: path
  spec:
    description: Internal, set by the action plugin from O(profile) (the collector spec).
    type: dict
  collectors:
    description: Internal, set by the action plugin (collector module sources).
    type: dict
  handoff:
    description: Internal, set by the action plugin (a file in Ansible's temporary
      directory that the connection user can read, for the transfer).
    type: path
notes:
  - The transfer streams to disk with the C(ssh) connection's C(sftp) or C(scp) transfer
    methods (and with C(local)); its C(piped) fallback holds the file in memory, so keep
    the SFTP subsystem enabled on hosts with large manifests.
  - Run it with privilege escalation (C(become)) unless the connection user is root;
    a file the collectors cannot read fails the task (as C(freeze snapshot) exits 66).
"""

EXAMPLES = r"""
- name: Snapshot every counting server into manifests/HOST.manifest.json
  election.freeze.freeze_collect:
    profile: "{{ playbook_dir }}/../inventories/lab/freeze/profile.yml"
    dest: "manifests/{{ inventory_hostname }}.manifest.json"
  become: true
"""

RETURN = r"""
dest:
  description: The file written on the controller.
  type: str
  returned: when dest is given
sha256:
  description: SHA-256 of the file written on the controller (the manifest's identity
    with O(output=manifest)).
  type: str
  returned: when dest is given
size:
  description: Size in bytes of the file written on the controller.
  type: int
  returned: when dest is given
collected_sha256:
  description: SHA-256 of the collected document as written on the host (checked
    against the transferred copy).
  type: str
  returned: success
collected_size:
  description: Size in bytes of the collected document.
  type: int
  returned: success
path:
  description: The root-only result file on the host (null in check mode).
  type: str
  returned: success
counts:
  description: Section name to number of entries (host sections only).
  type: dict
  returned: success
unavailable:
  description: Parts of the system that could not be collected, with the reason.
  type: dict
  returned: success
host:
  description: The host's identity as recorded (hostname, machine_id).
  type: dict
  returned: success
profile_sha256:
  description: SHA-256 of the profile file the host was collected with.
  type: str
  returned: success
drift:
  description: With O(baseline), the number of C(added), C(removed), C(changed) entries.
  type: dict
  returned: when baseline is given
drift_clean:
  description: With O(baseline), true when the host matches it.
  type: bool
  returned: when baseline is given
drift_items:
  description: With O(baseline), the first ten entries as C(category kind key).
  type: list
  elements: str
  returned: when baseline is given
drift_exit_code:
  description: With O(baseline), the exit status C(freeze verify) would give (1 added, 2 removed, 4 changed, or-ed).
  type: int
  returned: when baseline is given
signed:
  description: With O(envelope), whether the baseline is covered by the signed envelope
    (false with a failed task when it is not, and then nothing ran on the host).
  type: bool
  returned: when envelope is given
signed_checks:
  description: With O(envelope), what was checked (the threshold, and which digest the statement names).
  type: list
  elements: str
  returned: when the envelope check passed
kind:
  description: On failure, the collector's error kind (C(noinput) a path is missing or
    unreadable, C(unavailable), C(dataerr), C(software)).
  type: str
  returned: failure
"""

import hashlib
import json
import os
import stat
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.election.freeze.plugins.module_utils.freeze_collectors import TASK_OPTIONS, install_collectors

_CHUNK = 1 << 20


def _private_dir(module, path):
    """`path` as a directory owned by us, mode 0700 (created if missing)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        module.fail_json(msg="result_dir %s: %s" % (path, exc.strerror or exc))
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        module.fail_json(msg="result_dir %s: not a directory owned by uid %d" % (path, os.geteuid()))
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _write_document(path, doc):
    """Write `doc` as compact JSON to a new 0600 file; returns (sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        buf = []
        pending = 0
        for piece in json.JSONEncoder(separators=(",", ":")).iterencode(doc):
            buf.append(piece)
            pending += len(piece)
            if pending >= _CHUNK:
                data = "".join(buf).encode("utf-8")
                fh.write(data)
                digest.update(data)
                size += len(data)
                buf, pending = [], 0
        data = "".join(buf).encode("utf-8")
        fh.write(data)
        digest.update(data)
        size += len(data)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest(), size


def _copy_for_transfer(src, handoff):
    """Copy `src` to `handoff` (0600), owned by the owner of handoff's directory.

    The handoff directory is Ansible's temporary directory, created by the
    connection user: with become, that user (not root) fetches the file.
    """
    fd = os.open(handoff, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as out, open(src, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            out.write(chunk)
    _give_to_dir_owner(handoff)


def _give_to_dir_owner(path):
    parent = os.stat(os.path.dirname(path))
    if os.geteuid() == 0 and parent.st_uid != 0:
        os.chown(path, parent.st_uid, parent.st_gid)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            TASK_OPTIONS,
            spec=dict(type="dict"),
            collectors=dict(type="dict", no_log=True),
            handoff=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["spec"] or not p["collectors"]:
        module.fail_json(msg="freeze_collect needs its action plugin (spec and collectors are "
                             "set on the controller); call it as election.freeze.freeze_collect")
    try:
        runner = install_collectors(p["collectors"])
    except Exception as exc:  # noqa: BLE001 - one line for the operator
        module.fail_json(msg="cannot load the freeze collectors: %s: %s" % (type(exc).__name__, exc))
    growing = {}
    for path, size in (p["growing"] or {}).items():
        try:
            growing[path] = int(size)
        except (TypeError, ValueError):
            module.fail_json(msg="growing[%s]: not a byte size: %r" % (path, size))
    common = sys.modules["freeze.collect.common"]
    try:
        doc = runner.run_all(p["spec"], growing)
    except common.CollectError as exc:
        module.fail_json(msg=str(exc), kind=exc.kind)
    except Exception as exc:  # noqa: BLE001 - one line for the operator
        module.fail_json(msg="collector failed: %s: %s" % (type(exc).__name__, exc), kind="software")

    counts = dict((name, len(entries)) for name, entries in sorted(doc["sections"].items()))
    result = dict(changed=False, counts=counts, unavailable=doc["unavailable"], host=doc["host"],
                  path=None)
    try:
        if module.check_mode:
            # read-only run: the document goes only to Ansible's temporary directory
            if p["handoff"]:
                result["sha256"], result["size"] = _write_document(p["handoff"], doc)
                _give_to_dir_owner(p["handoff"])
            module.exit_json(**result)
        _private_dir(module, p["result_dir"])
        final = os.path.join(p["result_dir"], "collected.json")
        tmp = final + ".%d.tmp" % os.getpid()
        try:
            result["sha256"], result["size"] = _write_document(tmp, doc)
            os.rename(tmp, final)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        result["path"] = final
        if p["handoff"]:
            _copy_for_transfer(final, p["handoff"])
    except OSError as exc:
        module.fail_json(msg="cannot write the collected document: %s: %s"
                             % (exc.filename or "", exc.strerror or exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
