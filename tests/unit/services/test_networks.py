"""The network service over a fake bridge driver: the default bridge, create, prune and filters."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ballena.core.networks import IPAMConfig, IPAMPool, NetworkCreate
from ballena.errors import Conflict, Forbidden, InvalidArgument, NotFound
from ballena.pkg.filters import Filters
from tests.unit.services.fakes import FakeDriver, network_service


def test_the_default_bridge_reuses_the_address_its_interface_has(tmp_path: Path) -> None:
    async def case() -> None:
        driver = FakeDriver()
        driver.existing = "172.20.0.1/16"
        svc = network_service(tmp_path, driver)
        await svc.ready()
        assert svc.by_name("bridge").subnet == "172.20.0.0/16" and svc.by_name("bridge").gateway == "172.20.0.1"

    asyncio.run(case())


def test_create_chooses_a_free_pool_and_refuses_bad_requests(tmp_path: Path) -> None:
    async def case() -> None:
        svc = network_service(tmp_path)
        await svc.ready()
        n = await svc.create(NetworkCreate(name="front", labels={"a": "b"}))
        assert n.subnet == "172.18.0.0/16" and n.bridge.startswith("blna-")
        for req, err in (
            (NetworkCreate(name="front"), Conflict),
            (NetworkCreate(name="a/b"), InvalidArgument),
            (NetworkCreate(name=""), InvalidArgument),
            (NetworkCreate(name="h", driver="host"), Forbidden),
            (NetworkCreate(name="o", driver="overlay"), NotFound),
            (NetworkCreate(name="six", enable_ipv6=True), InvalidArgument),
            (NetworkCreate(name="dup", ipam=IPAMConfig(config=(IPAMPool(subnet="172.18.5.0/24"),))), Forbidden),
            (NetworkCreate(name="hostnic", options={"com.docker.network.bridge.name": "eth0"}), Conflict),
        ):
            with pytest.raises(err):
                await svc.create(req)
        six = await svc.create(NetworkCreate(name="v6", ipam=IPAMConfig(config=(IPAMPool(subnet="fd00:9::/64"),))))
        assert six.enable_ipv6 and six.gateway6 == "fd00:9::1" and six.subnet  # dual-stack: an IPv4 pool too

    asyncio.run(case())


def test_prune_and_filters(tmp_path: Path) -> None:
    async def case() -> None:
        svc = network_service(tmp_path)
        await svc.ready()
        await svc.create(NetworkCreate(name="keep", labels={"keep": "1"}))
        await svc.create(NetworkCreate(name="drop"))
        assert [n.name for n in svc.list_networks(Filters.parse('{"type":["custom"]}', accepted={"type"}))] == [
            "keep",
            "drop",
        ]
        removed = await svc.prune(Filters.parse('{"label!":["keep"]}', accepted={"label!"}))
        assert removed == ["drop"]
        with pytest.raises(Forbidden):
            await svc.remove("bridge")

    asyncio.run(case())


def test_concurrent_rule_updates_end_with_the_latest_state_and_coalesce(tmp_path: Path) -> None:
    """Each apply replaces the whole nftables table: an older picture applied after a newer
    one brought back a removed container's port rules (40 removals at once left 2 rules)."""
    applied: list[list[str]] = []

    class SlowFirst(FakeDriver):
        def __init__(self) -> None:
            super().__init__()
            self.delays = [0.05]  # the first apply takes longest, as a busy thread may

        async def apply_rules(self, networks: object, ports: object) -> None:
            await asyncio.sleep(self.delays.pop(0) if self.delays else 0)
            applied.append(list(ports))  # type: ignore[call-overload]

    class Ports:
        current = ["x"]

        def rules(self) -> list[str]:
            return list(self.current)

    svc = network_service(tmp_path, SlowFirst())
    ports = Ports()
    svc.ports = ports  # type: ignore[assignment]

    async def case() -> None:
        first = asyncio.ensure_future(svc.apply_rules())
        await asyncio.sleep(0)  # it has rendered ["x"] and is applying
        ports.current = []  # container x removed meanwhile
        later = [asyncio.ensure_future(svc.apply_rules()) for _ in range(3)]
        await asyncio.gather(first, *later)

    asyncio.run(case())
    assert applied == [["x"], []]  # the latest state last, and one apply for the three asks
