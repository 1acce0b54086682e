"""fresh_login_command: the one ssh line lockout_guard and nftables_firewall run."""

from __future__ import annotations

import shlex

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.election.freeze.plugins.filter.connection import fresh_login_command


def test_multiplexing_is_off_before_the_inventorys_options() -> None:
    hv = {"ansible_host": "127.0.0.1", "ansible_port": 2221,
          "ansible_ssh_common_args": "-o ControlPath=/tmp/cm/%C -o StrictHostKeyChecking=no",
          "ansible_ssh_private_key_file": "/keys/lab key"}
    words = shlex.split(fresh_login_command(hv, "count-db", "labadmin", 15))
    # ssh keeps the first value of an option: ControlPath=none must come first
    paths = [w for w in words if w.startswith("ControlPath=")]
    assert paths == ["ControlPath=none", "ControlPath=/tmp/cm/%C"]
    assert "ControlMaster=no" in words and "BatchMode=yes" in words and "ConnectTimeout=15" in words
    assert words[words.index("-p") + 1] == "2221"
    assert words[words.index("-i") + 1] == "/keys/lab key"  # quoted: one word
    assert words[-6:] == ["-l", "labadmin", "127.0.0.1", "sudo", "-n", "true"]


def test_defaults_inventory_name_port_22_and_configured_key() -> None:
    words = shlex.split(fresh_login_command({}, "web-1", "ops", "10", default_key="/etc/ansible/id"))
    assert words[words.index("-p") + 1] == "22"
    assert words[words.index("-i") + 1] == "/etc/ansible/id"
    assert words[-4] == "web-1"
    assert "-i" not in shlex.split(fresh_login_command({}, "web-1", "ops", 10))


def test_a_hostile_user_name_stays_one_argument() -> None:
    words = shlex.split(fresh_login_command({}, "h", "ops; rm -rf /", 10))
    assert words[words.index("-l") + 1] == "ops; rm -rf /"


@pytest.mark.parametrize("args", [({}, "h", "", 10), ({}, "h", "ops", "soon"), ("not hostvars", "h", "ops", 10),
                                  ({"ansible_port": "ssh"}, "h", "ops", 10)])
def test_bad_input_is_a_filter_error(args: tuple) -> None:
    with pytest.raises(AnsibleFilterError):
        fresh_login_command(*args)
