#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Documentation of election.freeze.freeze_profile (an action that runs on the controller only)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: freeze_profile
short_description: Compose one host's freeze profile from the base profile and its roles' fragments
description:
  - Runs on the controller only (action plugin); nothing runs on the managed host.
  - Finds the roles applied to the host (O(roles), or the plays of O(playbook) whose
    C(hosts) pattern matches it), renders each role's fragment
    (C(roles/ROLE/meta/freeze_profile.yml)) with the role's defaults and the host's own
    values of the role's variables, and composes them with O(base) exactly as
    C(freeze profile compose) does (same bytes), then writes O(dest).
  - Deterministic; a second run with the same inputs changes nothing.
  - Needs the C(freeze) Python package on the controller.
version_added: 0.1.0
author: election-freeze maintainers
attributes:
  check_mode:
    support: full
    details: Reports whether O(dest) would change; writes nothing.
options:
  base:
    description: The operator's base freeze profile (what every host shares).
    type: path
    required: true
  dest:
    description: Where to write the host's composed profile on the controller.
    type: path
    required: true
  roles:
    description: The roles applied to the host (short names), instead of reading O(playbook).
    type: list
    elements: str
  playbook:
    description:
      - The playbook whose plays say which roles each host gets (C(import_playbook) followed; host patterns
        of group and host names, C(all), C(:) C(,) C(&) C(!) only).
      - Default the collection's C(playbooks/site.yml).
    type: path
  roles_dir:
    description: Where the roles' fragments are (default the collection's C(roles)).
    type: path
"""

EXAMPLES = r"""
- name: Compose this host's freeze profile into the ceremony directory
  election.freeze.freeze_profile:
    base: "{{ playbook_dir }}/../inventories/lab/freeze/profile.yml"
    dest: "/srv/ceremony-2026/profiles/{{ inventory_hostname }}.profile.yml"
"""

RETURN = r"""
sha256:
  description: SHA-256 of the composed profile (what the host's manifest records as its profile).
  type: str
  returned: success
roles:
  description: The roles found applied to the host.
  type: list
  returned: success
fragments:
  description: The roles whose fragment was composed.
  type: list
  returned: success
overridden:
  description: "PATH (ROLE): a role's entry the base's own entry for the same path replaced."
  type: list
  returned: success
"""
