"""The lab: real Debian 12 hosts as qemu VMs, built offline from Debian packages.

Run as ``python -m lab {build,repo,up,down,status,ssh}``; see README.md "Lab".
Standard library only (plus pyyaml for the inventory), so it runs before the venv
has anything else.
"""
