#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Documentation of election.freeze.freeze_collect_status (an action that runs on the controller only)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: freeze_collect_status
short_description: Write every host's collection outcome to one file on the controller
description:
  - Runs on the controller only (action plugin); nothing runs on a managed host and no
    module is sent anywhere.
  - Writes O(results) as one JSON object (sorted keys) to O(dest), atomically, mode 0600.
    C(freeze snapshot|verify --inventory) read that file, never Ansible's output.
  - Used once per play by the collection's C(playbooks/collect.yml).
  - Needs the C(freeze) Python package on the controller.
version_added: 0.1.0
author: election-freeze maintainers
attributes:
  check_mode:
    support: none
    details: The file is the caller's record of the run; set C(check_mode=false) on the task.
options:
  results:
    description: Inventory host name -> the result the play registered for it.
    type: dict
    required: true
  dest:
    description: The file to write on the controller (its directory must exist).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Record every host's outcome in status.json
  election.freeze.freeze_collect_status:
    results: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'result'))) }}"
    dest: "{{ freeze_collect_dir }}/status.json"
  run_once: true
  check_mode: false
"""

RETURN = r"""
dest:
  description: The file written.
  type: str
  returned: success
hosts:
  description: How many hosts it records.
  type: int
  returned: success
"""

if __name__ == "__main__":
    import json
    import sys

    print(json.dumps({"failed": True, "msg": "freeze_collect_status runs on the controller only (action plugin)"}))
    sys.exit(1)
