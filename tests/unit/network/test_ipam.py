import ipaddress

import pytest

from ballena.core.networks import IPAMPool
from ballena.errors import Conflict, Forbidden, InvalidArgument
from ballena.network import ipam


def test_choose_subnet_skips_what_is_used() -> None:
    assert str(ipam.choose_subnet([])) == "172.17.0.0/16"
    assert str(ipam.choose_subnet(["172.17.0.0/16", "172.18.5.0/24"])) == "172.19.0.0/16"
    used = [f"172.{i}.0.0/16" for i in range(17, 32)]
    assert str(ipam.choose_subnet(used)) == "192.168.0.0/20"
    assert str(ipam.choose_subnet([*used, "192.168.0.0/24"])) == "192.168.16.0/20"


def test_the_default_pools_make_forty_networks_possible() -> None:
    used: list[str] = []
    for _ in range(31):
        used.append(str(ipam.choose_subnet(used)))
    assert len(set(used)) == 31
    with pytest.raises(Conflict) as e:
        ipam.choose_subnet([*used, "192.168.0.0/16"])
    assert "could not find an available, non-overlapping IPv4 address pool" in e.value.message


def test_allocation_skips_the_gateway_held_and_aux_addresses() -> None:
    pool = IPAMPool(subnet="10.0.0.0/29", gateway="10.0.0.1", aux_addresses={"router": "10.0.0.2"})
    assert ipam.allocate(pool, ["10.0.0.3"]) == "10.0.0.4"
    assert ipam.allocate(pool, []) == "10.0.0.3"


def test_a_full_pool_is_a_conflict() -> None:
    pool = IPAMPool(subnet="10.0.0.0/30", gateway="10.0.0.1")
    with pytest.raises(Conflict) as e:
        ipam.allocate(pool, ["10.0.0.2"])
    assert "no available IPv4 addresses" in e.value.message


def test_ip_range_narrows_allocation() -> None:
    pool = IPAMPool(subnet="10.1.0.0/16", gateway="10.1.0.1", ip_range="10.1.5.0/24")
    assert ipam.allocate(pool, []) == "10.1.5.1"


@pytest.mark.parametrize(
    ("wanted", "held", "error"),
    [
        ("10.0.0.9", [], None),
        ("10.0.0.9", ["10.0.0.9"], Conflict),
        ("10.0.0.1", [], Conflict),  # the gateway's
        ("10.9.0.9", [], InvalidArgument),
        ("not-an-ip", [], InvalidArgument),
    ],
)
def test_wanted_addresses(wanted: str, held: list[str], error: type[Exception] | None) -> None:
    pool = IPAMPool(subnet="10.0.0.0/24", gateway="10.0.0.1")
    if error is None:
        assert ipam.allocate(pool, held, wanted=wanted) == wanted
    else:
        with pytest.raises(error):
            ipam.allocate(pool, held, wanted=wanted)


def test_ipv6_pools() -> None:
    pool = IPAMPool(subnet="fd42::/64", gateway="fd42::1")
    assert ipam.allocate(pool, []) == "fd42::2"
    assert ipam.allocate(pool, ["fd42:0::2"]) == "fd42::3"  # held addresses compared canonically
    assert ipaddress.ip_address(ipam.allocate(pool, [], wanted="fd42::abcd")) == ipaddress.ip_address("fd42::abcd")


def test_check_pools_fills_gateways_and_refuses_nonsense() -> None:
    pools = ipam.check_pools([IPAMPool(subnet="10.5.0.0/16"), IPAMPool(subnet="fd00:1::/64")], others=["172.17.0.0/16"])
    assert [p.gateway for p in pools] == ["10.5.0.1", "fd00:1::1"]
    with pytest.raises(Forbidden):
        ipam.check_pools([IPAMPool(subnet="172.17.1.0/24")], others=["172.17.0.0/16"])
    with pytest.raises(Forbidden):
        ipam.check_pools([IPAMPool(subnet="10.0.0.0/16"), IPAMPool(subnet="10.0.5.0/24")], others=[])
    for bad in (
        IPAMPool(subnet="10.0.0.1/16"),  # not a subnet
        IPAMPool(subnet="10.0.0.0/16", gateway="10.1.0.1"),
        IPAMPool(subnet="10.0.0.0/16", ip_range="10.1.0.0/24"),
        IPAMPool(subnet="10.0.0.0/16", aux_addresses={"a": "192.168.1.1"}),
        IPAMPool(gateway="10.0.0.1"),
    ):
        with pytest.raises(InvalidArgument):
            ipam.check_pools([bad], others=[])


@pytest.mark.parametrize(("ip", "mac"), [("172.17.0.2", "02:42:ac:11:00:02"), ("10.0.255.1", "02:42:0a:00:ff:01")])
def test_mac_for(ip: str, mac: str) -> None:
    assert ipam.mac_for(ip) == mac
