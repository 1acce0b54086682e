"""Make the checkout importable as ansible_collections.election.freeze.

scripts/bootstrap.sh links .collections/ansible_collections/election/freeze to the
repository root; without it (a bare checkout) the same link is made in a temp dir.
The modules import their module_utils by that name, as on a managed host.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _collections_root() -> Path:
    root = REPO / ".collections"
    if (root / "ansible_collections/election/freeze/galaxy.yml").exists():
        return root
    tmp = Path(tempfile.mkdtemp(prefix="election-freeze-collections-"))
    link = tmp / "ansible_collections/election/freeze"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO)
    return tmp


sys.path.insert(0, str(_collections_root()))


@pytest.fixture
def run_module(capsys):
    """Run a module's main() with the given args, in-process; return its JSON result."""
    from ansible.module_utils.testing import patch_module_args

    def run(main, args: dict, check_mode: bool = False) -> dict:
        if check_mode:
            args = dict(args, _ansible_check_mode=True)
        with patch_module_args(args), pytest.raises(SystemExit):
            main()
        return json.loads(capsys.readouterr().out)

    return run
