"""nftables_firewall on a lab host: the LOADED ruleset (nft -j list ruleset), the
per-group allowlists from the inventory, and real packets on a MAC-confined
device network that the test builds inside the VM (a veth pair whose far end
lives in a network namespace, with the MAC address the test chooses).
"""

from __future__ import annotations

import json

import pytest

from tests.infra.lab_host import hostvars

TABLE = "election_filter"
ALLOWED_MAC = "02:00:5e:10:00:01"  # in inventories/lab/group_vars/transmission.yml
UNKNOWN_MAC = "02:00:5e:10:00:99"  # not registered


@pytest.fixture(scope="module")
def ruleset(host) -> list[dict]:  # noqa: ANN001
    with host.sudo():
        return json.loads(host.check_output("nft -j list ruleset"))["nftables"]


def _chain(ruleset: list[dict], name: str) -> dict:
    chains = [o["chain"] for o in ruleset if "chain" in o and o["chain"]["table"] == TABLE
              and o["chain"]["name"] == name]
    assert chains, f"chain {name} missing from table inet {TABLE}"
    return chains[0]


def _rules(ruleset: list[dict], chain: str) -> list[dict]:
    return [o["rule"] for o in ruleset if "rule" in o and o["rule"]["table"] == TABLE
            and o["rule"]["chain"] == chain]


def _dports(rule: dict) -> set[int]:
    ports: set[int] = set()
    for expr in rule["expr"]:
        match = expr.get("match")
        if match and match["left"].get("payload", {}).get("field") == "dport":
            right = match["right"]
            ports.update(right if isinstance(right, list) else [right] if isinstance(right, int) else [])
    return ports


def _accepts(rule: dict) -> bool:
    return any("accept" in expr for expr in rule["expr"])


def _has_saddr(rule: dict) -> bool:
    return any(expr.get("match", {}).get("left", {}).get("payload", {}).get("field") == "saddr"
               for expr in rule["expr"])


@pytest.mark.control("CIS-4.3.5", "CIS-4.3.8")
def test_default_deny_inbound_and_forward(ruleset: list[dict]) -> None:
    assert _chain(ruleset, "input")["policy"] == "drop"
    assert _chain(ruleset, "forward")["policy"] == "drop"
    assert _chain(ruleset, "input")["hook"] == "input"


@pytest.mark.control("EF-FW-1")
def test_ssh_allowed_in_the_same_table(ruleset: list[dict], host) -> None:  # noqa: ANN001
    port = int(hostvars(host).get("ssh_hardening_port", 22))
    assert any(port in _dports(r) and _accepts(r) for r in _rules(ruleset, "input"))


@pytest.mark.control("EF-FW-2")
def test_group_services_follow_the_inventory(ruleset: list[dict], host) -> None:  # noqa: ANN001
    hv = hostvars(host)
    wanted = [svc for group, services in (hv.get("nftables_firewall_group_services") or {}).items()
              if group in hv.get("group_names", []) for svc in services]
    rules = _rules(ruleset, "input")
    for svc in wanted:
        matching = [r for r in rules if int(svc["port"]) in _dports(r) and _accepts(r)]
        if svc.get("sources"):
            # restricted: every accept rule for the port names its sources
            assert all(_has_saddr(r) for r in matching), f"{svc['name']} open to everyone"
        else:
            assert matching, f"{svc['name']} (port {svc['port']}) not allowed"
    # and nothing else is open: accepted ports = ssh + the host's services
    allowed = {int(hv.get("ssh_hardening_port", 22))} | {int(s["port"]) for s in wanted}
    if hv.get("nftables_firewall_device_network_enabled"):
        allowed.add(int(hv.get("nftables_firewall_device_service_port", 8443)))
    opened = set().union(*[_dports(r) for r in rules if _accepts(r)])
    assert opened <= allowed, f"unexpected open ports: {sorted(opened - allowed)}"


@pytest.mark.control("CIS-4.3.9", "CIS-4.3.10")
def test_ruleset_persists_and_parses(host) -> None:  # noqa: ANN001
    with host.sudo():
        assert host.run("nft -c -f /etc/nftables.conf").rc == 0
    assert host.service("nftables").is_enabled
    # active as well (CIS 4.3.9; a firewall service that is enabled but not active fails the benchmark)
    assert host.service("nftables").is_running
    assert not host.service("nftables-firewall-rollback.timer").is_running, "rollback still pending"


@pytest.mark.control("EF-FW-3")
def test_device_mac_set_matches_inventory(ruleset: list[dict], host) -> None:  # noqa: ANN001
    hv = hostvars(host)
    if not hv.get("nftables_firewall_device_network_enabled"):
        pytest.skip("no device network on this host (only the transmission group has one)")
    sets = [o["set"] for o in ruleset if "set" in o and o["set"]["name"] == "device_macs"]
    assert sets and sets[0]["type"] == "ether_addr"
    assert sorted(sets[0].get("elem", [])) == sorted(m.lower() for m in hv["nftables_firewall_device_macs"])


@pytest.mark.control("EF-FW-4")
@pytest.mark.writes
def test_only_registered_macs_reach_the_transmission_service(host) -> None:  # noqa: ANN001
    """Real frames: a registered MAC gets to the service port; an unknown MAC, or the
    registered MAC on any other port (here SSH), is dropped and counted."""
    hv = hostvars(host)
    if not hv.get("nftables_firewall_device_network_enabled"):
        pytest.skip("no device network on this host (only the transmission group has one)")
    iface = hv.get("nftables_firewall_device_interface", "devnet0")
    port = int(hv.get("nftables_firewall_device_service_port", 8443))
    connect = ("ip netns exec devtest python3 -c 'import socket,sys\n"
               "try:\n s=socket.create_connection((\"192.0.2.1\",int(sys.argv[1])),timeout=4);"
               " print(s.recv(16).decode())\n"
               "except Exception as e: print(type(e).__name__)' ")
    setup = f"""
set -e
ip netns del devtest 2>/dev/null || true; ip link del {iface} 2>/dev/null || true
ip netns add devtest
ip link add {iface} type veth peer name devpeer
ip link set devpeer netns devtest
ip addr add 192.0.2.1/24 dev {iface}; ip link set {iface} up
ip -n devtest link set lo up
ip -n devtest addr add 192.0.2.2/24 dev devpeer
ip -n devtest link set devpeer address {ALLOWED_MAC}; ip -n devtest link set devpeer up
(timeout 60 python3 -c 'import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("192.0.2.1",{port})); s.listen(4)
while True:
    c,_=s.accept(); c.sendall(b"service-ok"); c.close()' devnet-listener >/dev/null 2>&1 &)
sleep 2
"""
    counter = f"nft -j list counter inet {TABLE} device_net_dropped"
    with host.sudo():
        try:
            host.check_output(setup)
            before = json.loads(host.check_output(counter))["nftables"][1]["counter"]["packets"]
            allowed = host.check_output(connect + str(port))
            other_port = host.check_output(connect + "22")
            host.check_output("ip -n devtest link set devpeer down; "
                              f"ip -n devtest link set devpeer address {UNKNOWN_MAC};"
                              " ip -n devtest link set devpeer up; ip neigh flush dev " + iface)
            unknown = host.check_output(connect + str(port))
            after = json.loads(host.check_output(counter))["nftables"][1]["counter"]["packets"]
        finally:
            host.run(f"pkill -f '[d]evnet-listener'; ip netns del devtest; ip link del {iface}")
    assert allowed.strip() == "service-ok", f"registered device refused: {allowed}"
    assert other_port.strip() == "TimeoutError", f"registered device reached port 22: {other_port}"
    assert unknown.strip() == "TimeoutError", f"unknown MAC reached the service: {unknown}"
    assert after > before, "drops on the device network were not counted"
