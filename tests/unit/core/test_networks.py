from ballena.core.networks import Endpoint, IPAMPool, Network


def _net(**kw: object) -> Network:
    return Network(id="n", name="n", driver="bridge", created_ns=0, **kw)  # type: ignore[arg-type]


def test_pools_by_version() -> None:
    n = _net(
        pools=(IPAMPool(subnet="fd00::/64", gateway="fd00::1"), IPAMPool(subnet="10.1.0.0/16", gateway="10.1.0.1"))
    )
    assert n.subnet == "10.1.0.0/16" and n.gateway == "10.1.0.1" and n.gateway6 == "fd00::1"
    assert _net().subnet == "" and _net().pool(6) is None


def test_driver_options() -> None:
    n = _net(options={"com.docker.network.bridge.enable_icc": "false", "com.docker.network.driver.mtu": "1400"})
    assert not n.icc and n.masquerade and n.mtu == 1400
    assert _net(options={"com.docker.network.driver.mtu": "x"}).mtu == 0


def test_user_defined_and_scope() -> None:
    assert _net().user_defined and not _net(builtin=True).user_defined
    assert not Network(id="h", name="host", driver="host", created_ns=0).user_defined
    assert _net().scope == "local"


def test_endpoint_dns_names() -> None:
    ep = Endpoint(
        network_id="n", container_id="abcdef0123456789", container_name="web", endpoint_id="e", aliases=("www", "web")
    )
    assert ep.dns_names == ("web", "www", "abcdef012345")  # moby's order, compose's repeat of the name dropped
