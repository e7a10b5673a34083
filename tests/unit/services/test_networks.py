"""The network service over a fake bridge driver: create, plan (reservation), connect rules."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ballena.core.containerconfig import (
    ContainerConfig,
    EndpointIPAMConfig,
    EndpointSettings,
    HostConfig,
    NetworkingConfig,
)
from ballena.core.containers import Container
from ballena.core.networks import IPAMConfig, IPAMPool, NetworkCreate
from ballena.errors import Conflict, Forbidden, InvalidArgument, NotFound
from ballena.pkg.filters import Filters
from ballena.services.events import EventBus
from ballena.services.networks import NetworkService
from ballena.stores.metadata import Database
from ballena.stores.networks import NetworkStore


class FakeDriver:
    def __init__(self) -> None:
        self.bridges: list[str] = []
        self.existing: str | None = None

    async def ensure(self, n: Any) -> None:
        self.bridges.append(n.bridge)

    async def delete(self, n: Any) -> None:
        self.bridges.remove(n.bridge)

    async def address_of(self, bridge: str) -> str | None:
        return self.existing

    async def host_routes(self) -> list[str]:
        return ["10.0.2.0/24"]

    async def apply_rules(self, networks: Any, ports: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _service(tmp_path: Path, driver: FakeDriver | None = None) -> NetworkService:
    return NetworkService(
        store=NetworkStore(Database(tmp_path / "m.db")), events=EventBus(), driver=driver or FakeDriver()
    )  # type: ignore[arg-type]


def _container(name: str, networks: dict[str, EndpointSettings]) -> Container:
    return Container(
        id=name * 8, name=name, created_ns=0, image="i", image_id="i", path="sh", args=(), config=ContainerConfig(),
        host_config=HostConfig(network_mode=next(iter(networks), "bridge")), networks=networks,
    )  # fmt: skip


def test_the_default_bridge_reuses_the_address_its_interface_has(tmp_path: Path) -> None:
    async def case() -> None:
        driver = FakeDriver()
        driver.existing = "172.20.0.1/16"
        svc = _service(tmp_path, driver)
        await svc.ready()
        assert svc.by_name("bridge").subnet == "172.20.0.0/16" and svc.by_name("bridge").gateway == "172.20.0.1"

    asyncio.run(case())


def test_create_chooses_a_free_pool_and_refuses_bad_requests(tmp_path: Path) -> None:
    async def case() -> None:
        svc = _service(tmp_path)
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
        ):
            with pytest.raises(err):
                await svc.create(req)
        six = await svc.create(NetworkCreate(name="v6", ipam=IPAMConfig(config=(IPAMPool(subnet="fd00:9::/64"),))))
        assert six.enable_ipv6 and six.gateway6 == "fd00:9::1" and six.subnet  # dual-stack: an IPv4 pool too

    asyncio.run(case())


def test_plan_reserves_distinct_addresses_and_releases_on_failure(tmp_path: Path) -> None:
    async def case() -> None:
        svc = _service(tmp_path)
        await svc.ready()
        await svc.create(NetworkCreate(name="tiny", ipam=IPAMConfig(config=(IPAMPool(subnet="10.9.0.0/30"),))))
        a = _container("aa", svc.initial_endpoints(HostConfig(network_mode="tiny"), NetworkingConfig()))
        b = _container("bb", svc.initial_endpoints(HostConfig(network_mode="tiny"), NetworkingConfig()))
        assert svc.plan(a)["tiny"].ip_address == "10.9.0.2"
        with pytest.raises(Conflict):
            svc.plan(b)  # a /30 has one address for containers
        assert svc.store.endpoints(container_id=b.id) == []

    asyncio.run(case())


def test_static_addresses_need_a_configured_user_network(tmp_path: Path) -> None:
    async def case() -> None:
        svc = _service(tmp_path)
        await svc.ready()
        await svc.create(NetworkCreate(name="auto"))
        await svc.create(NetworkCreate(name="conf", ipam=IPAMConfig(config=(IPAMPool(subnet="10.7.0.0/24"),))))
        want = {"x": EndpointSettings(ipam_config=EndpointIPAMConfig(ipv4_address="10.7.0.9"))}
        for mode, cfg, message in (
            ("bridge", want["x"], "user specified IP address is supported on user defined networks only"),
            ("auto", want["x"], "user specified IP address is supported only when connecting to networks with user configured subnets"),
            ("conf", EndpointSettings(ipam_config=EndpointIPAMConfig(ipv4_address="10.8.0.1")), "invalid address 10.8.0.1: It does not belong to any of this network's subnets"),
            ("bridge", EndpointSettings(aliases=("x",)), "network-scoped alias is supported only for containers in user defined networks"),
        ):  # fmt: skip
            with pytest.raises(InvalidArgument) as e:
                svc.initial_endpoints(HostConfig(network_mode=mode), NetworkingConfig(endpoints_config={mode: cfg}))
            assert e.value.message == message
        eps = svc.initial_endpoints(
            HostConfig(network_mode="conf"), NetworkingConfig(endpoints_config={"conf": want["x"]})
        )
        assert svc.plan(_container("cc", eps))["conf"].ip_address == "10.7.0.9"

    asyncio.run(case())


def test_host_and_none_take_no_other_network(tmp_path: Path) -> None:
    async def case() -> None:
        svc = _service(tmp_path)
        await svc.ready()
        assert svc.initial_endpoints(HostConfig(network_mode="host"), NetworkingConfig()) == {}
        with pytest.raises(InvalidArgument):
            svc.initial_endpoints(
                HostConfig(network_mode="none"), NetworkingConfig(endpoints_config={"bridge": EndpointSettings()})
            )
        with pytest.raises(NotFound) as e:
            svc.initial_endpoints(HostConfig(network_mode="nonexist"), NetworkingConfig())
        assert e.value.message == "network nonexist not found"

    asyncio.run(case())


def test_prune_and_filters(tmp_path: Path) -> None:
    async def case() -> None:
        svc = _service(tmp_path)
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
