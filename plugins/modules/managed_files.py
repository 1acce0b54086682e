#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Write a batch of small configuration files in ONE module call.

Why a module: on the emulated lab VMs every task costs ~3 s of AnsiballZ start-up,
so rendering fifteen files with fifteen `template` tasks costs ~45 s per converge,
changed or not. Here the controller renders every file (lookup('template')) and this
module compares, backs up and writes them all in a single round trip, with check
mode and --diff support. First used by os_baseline; any role with many small files
can use it (election.freeze.managed_files).

Each original file is copied ONCE into backup_dir (the first time it is changed),
so `restore: true` can put the host back in its pre-hardening state.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: managed_files
short_description: Write many small files atomically in one call, with pristine backups and restore
version_added: 0.1.0
author: election-freeze maintainers
options:
  files:
    description: List of dicts with path, content (omit to manage metadata only; a
      missing path is then skipped), mode (octal string), owner, group (default root),
      state (present/absent), validate (command with %s for the temporary file, run
      before it replaces path).
    type: list
    elements: dict
    default: []
  backup_dir:
    description: Directory that receives one pristine copy of each file before the
      first change (manifest.json lists which paths did not exist before and the
      original mode/owner of metadata-only changes).
    type: path
    required: true
  restore:
    description: Put every path of the manifest back as it was before the first
      change, then set the manifest aside (manifest.json.restored).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Write the role's files in one call
  election.freeze.managed_files:
    files:
      - {path: /etc/sudoers.d/60-site, content: "Defaults use_pty\n", mode: "0440", validate: /usr/sbin/visudo -cf %s}
      - {path: /etc/crontab, mode: "0600"}
      - {path: /etc/cron.deny, state: absent}
    backup_dir: /var/backups/site
"""

RETURN = r"""
changed_paths:
  description: Paths that were (or in check mode would be) changed or restored.
  type: list
  elements: str
  returned: always
"""


def _uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


def _gid(name: str) -> int:
    return grp.getgrnam(name).gr_gid


def _read(path: str) -> str | None:
    try:
        with open(path, "r", encoding="utf-8", errors="surrogateescape") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _save_manifest(backup_dir: str, manifest: dict) -> None:
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    tmp = os.path.join(backup_dir, ".manifest.json.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(backup_dir, "manifest.json"))


def _backup(backup_dir: str, path: str, manifest: dict) -> None:
    """Keep the pristine original: never overwrite an existing backup. The manifest
    is saved at once, so a run that fails half-way can still be rolled back."""
    if path in manifest:
        return
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    if os.path.lexists(path):
        dest = os.path.join(backup_dir, path.lstrip("/"))
        os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
        shutil.copy2(path, dest, follow_symlinks=False)
        manifest[path] = "saved"
    else:
        manifest[path] = "absent"
    _save_manifest(backup_dir, manifest)


def _restore(module: AnsibleModule, backup_dir: str, manifest: dict, manifest_path: str) -> None:
    """Put every file this role ever changed back to its pristine state."""
    restored = []
    for path, how in sorted(manifest.items()):
        restored.append(path)
        if module.check_mode:
            continue
        if how == "saved":
            src = os.path.join(backup_dir, path.lstrip("/"))
            tmp = path + ".managed-files-restore"
            shutil.copy2(src, tmp, follow_symlinks=False)
            os.replace(tmp, path)
        elif how == "absent":
            if os.path.lexists(path):
                os.unlink(path)
        elif how.startswith("meta:"):
            _, mode, uid, gid = how.split(":")
            if os.path.lexists(path):
                os.chmod(path, int(mode, 8))
                os.chown(path, int(uid), int(gid))
    if not module.check_mode and restored:
        os.replace(manifest_path, manifest_path + ".restored")
    module.exit_json(changed=bool(restored), changed_paths=restored)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", default=[]),
            backup_dir=dict(type="path", required=True),
            restore=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    backup_dir = module.params["backup_dir"]
    manifest_path = os.path.join(backup_dir, "manifest.json")
    manifest = json.loads(_read(manifest_path) or "{}")
    changed_paths: list[str] = []
    diffs: list[dict] = []

    if module.params["restore"]:
        _restore(module, backup_dir, manifest, manifest_path)

    for spec in module.params["files"]:
        path = spec["path"]
        state = spec.get("state", "present")
        content = spec.get("content")
        mode = int(str(spec["mode"]), 8) if spec.get("mode") is not None else None
        owner = spec.get("owner", "root")
        group = spec.get("group", "root")

        if state == "absent":
            if os.path.lexists(path):
                changed_paths.append(path)
                diffs.append({"before_header": path, "after_header": path + " (absent)",
                              "before": _read(path) or "", "after": ""})
                if not module.check_mode:
                    _backup(backup_dir, path, manifest)
                    os.unlink(path)
            continue

        if content is None:
            # metadata only (e.g. permissions on /etc/crontab): skip missing paths
            if not os.path.lexists(path):
                continue
        else:
            before = _read(path)
            if before != content:
                changed_paths.append(path)
                diffs.append({"before_header": path, "after_header": path,
                              "before": before or "", "after": content})
                if not module.check_mode:
                    _backup(backup_dir, path, manifest)
                    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".managed-files.")
                    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
                        fh.write(content)
                    os.chmod(tmp, mode if mode is not None else 0o644)
                    os.chown(tmp, _uid(owner), _gid(group))
                    if spec.get("validate"):
                        # e.g. "visudo -cf %s": a broken sudoers file never lands
                        rc, out, err = module.run_command(spec["validate"] % tmp)
                        if rc != 0:
                            os.unlink(tmp)
                            module.fail_json(msg="validation of %s failed: %s" % (path, (err or out).strip()),
                                             changed_paths=changed_paths)
                    os.replace(tmp, path)
                continue

        st = os.lstat(path) if os.path.lexists(path) else None
        want_uid, want_gid = _uid(owner), _gid(group)
        if st is None:
            continue
        meta_diff = []
        if mode is not None and stat.S_IMODE(st.st_mode) != mode:
            meta_diff.append("mode %04o -> %04o" % (stat.S_IMODE(st.st_mode), mode))
        if (st.st_uid, st.st_gid) != (want_uid, want_gid):
            meta_diff.append("owner %d:%d -> %s:%s" % (st.st_uid, st.st_gid, owner, group))
        if meta_diff:
            changed_paths.append(path)
            diffs.append({"before_header": path, "after_header": path,
                          "before": "", "after": "; ".join(meta_diff) + "\n"})
            if not module.check_mode:
                if path not in manifest:
                    manifest[path] = "meta:%04o:%d:%d" % (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
                    _save_manifest(backup_dir, manifest)
                if mode is not None:
                    os.chmod(path, mode)
                os.chown(path, want_uid, want_gid)

    module.exit_json(changed=bool(changed_paths), changed_paths=changed_paths,
                     diff=diffs)


if __name__ == "__main__":
    main()
