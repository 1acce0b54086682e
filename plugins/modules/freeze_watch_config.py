#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Documentation of election.freeze.freeze_watch_config (an action that runs on the controller only)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: freeze_watch_config
short_description: Check a host's freeze manifest is the signed one and build its freeze_watch configuration
description:
  - Runs on the controller only (action plugin); nothing runs on the managed host.
  - Returns the source of the C(freeze) tool's standard-library collectors (the same
    source C(freeze snapshot --host) and M(election.freeze.freeze_collect) ship) for the
    role C(election.freeze.freeze_watch) to install.
  - With O(manifest), first proves it is covered by the signed manifest envelope
    (as C(freeze verify-envelope --type manifest --root ROOT) and C(playbooks/verify.yml)
    do), then that O(profile) is the one it was taken with, then returns the host
    checker's configuration (collector spec, growing-file sizes, path volatilities,
    host sections). A manifest that is not the signed one fails the task.
  - Needs the C(freeze) Python package on the controller.
version_added: 0.1.0
author: election-freeze maintainers
attributes:
  check_mode:
    support: full
    details: Reads files on the controller only.
options:
  manifest:
    description: The host's manifest on the controller (empty before the freeze).
    type: path
  profile:
    description: The freeze profile the manifest was taken with (required with O(manifest)).
    type: path
  envelope:
    description: The signed manifest envelope (DSSE) covering O(manifest) (required with O(manifest)).
    type: path
  root:
    description: The ceremony root envelope (C(root.json)) (required with O(manifest)).
    type: path
  fleet:
    description: The signed fleet manifest, when O(envelope) signs one for several hosts.
    type: path
  intervention:
    description:
      - A witnessed intervention's record directory (RECORDS/DIR of C(freeze intervention)). Its signed record must
        meet the root's intervention threshold and name the host's after-manifest, which is then the reference.
        Instead of O(manifest); needs O(profile) and O(root).
    type: path
  host:
    description: The host's inventory name (its entry in O(fleet)).
    type: str
    required: true
  own_units:
    description: The checker's own systemd units (their active state is not compared).
    type: list
    elements: str
    default: []
  install_dir:
    description: The checker's directory on the host (the collector files go to its C(collect/)).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Check the manifest and build the checker's configuration
  election.freeze.freeze_watch_config:
    manifest: manifests/count-app.manifest.json
    profile: profile.yml
    envelope: ceremony/manifest.dsse.json
    root: ceremony/root.json
    host: "{{ inventory_hostname }}"
"""

RETURN = r"""
code_files:
  description: freeze's code the checker runs, as M(election.freeze.managed_files) specs (0644), in load order -
    the collectors (INSTALL_DIR/collect/NAME.py) and the file judges (INSTALL_DIR/judge/judge.py, rotation.py).
  type: list
  elements: dict
  returned: success
manifest:
  description: Whether a manifest was given (and verified).
  type: bool
  returned: success
signed_checks:
  description: What the signature check established.
  type: list
  elements: str
  returned: with manifest
config:
  description: The checker's configuration (schema C(freeze-watch/v1)).
  type: dict
  returned: with manifest
manifest_path:
  description: The reference manifest on the controller (O(manifest), or the intervention's after-manifest).
  type: str
  returned: with manifest
manifest_sha256:
  description: SHA-256 of the manifest file.
  type: str
  returned: with manifest
"""
