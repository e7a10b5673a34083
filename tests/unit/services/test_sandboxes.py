"""A container's connectivity over a fake bridge driver: which networks it joins, address
reservation (distinct, released on failure), static addresses."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
from ballena.errors import Conflict, InvalidArgument, NotFound
from ballena.services.sandboxes import Sandboxes
from tests.unit.services.fakes import network_service


def _container(name: str, networks: dict[str, EndpointSettings]) -> Container:
    return Container(
        id=name * 8, name=name, created_ns=0, image="i", image_id="i", path="sh", args=(), config=ContainerConfig(),
        host_config=HostConfig(network_mode=next(iter(networks), "bridge")), networks=networks,
    )  # fmt: skip


def test_plan_reserves_distinct_addresses_and_releases_on_failure(tmp_path: Path) -> None:
    async def case() -> None:
        svc = network_service(tmp_path)
        await svc.ready()
        box = Sandboxes(networks=svc)
        await svc.create(NetworkCreate(name="tiny", ipam=IPAMConfig(config=(IPAMPool(subnet="10.9.0.0/30"),))))
        a = _container("aa", box.initial_endpoints(HostConfig(network_mode="tiny"), NetworkingConfig()))
        b = _container("bb", box.initial_endpoints(HostConfig(network_mode="tiny"), NetworkingConfig()))
        assert box.plan(a)["tiny"].ip_address == "10.9.0.2"
        with pytest.raises(Conflict):
            box.plan(b)  # a /30 has one address for containers
        assert svc.store.endpoints(container_id=b.id) == []

    asyncio.run(case())


def test_static_addresses_need_a_configured_user_network(tmp_path: Path) -> None:
    async def case() -> None:
        svc = network_service(tmp_path)
        await svc.ready()
        box = Sandboxes(networks=svc)
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
                box.initial_endpoints(HostConfig(network_mode=mode), NetworkingConfig(endpoints_config={mode: cfg}))
            assert e.value.message == message
        eps = box.initial_endpoints(
            HostConfig(network_mode="conf"), NetworkingConfig(endpoints_config={"conf": want["x"]})
        )
        assert box.plan(_container("cc", eps))["conf"].ip_address == "10.7.0.9"

    asyncio.run(case())


def test_host_and_none_take_no_other_network(tmp_path: Path) -> None:
    async def case() -> None:
        svc = network_service(tmp_path)
        await svc.ready()
        box = Sandboxes(networks=svc)
        assert box.initial_endpoints(HostConfig(network_mode="host"), NetworkingConfig()) == {}
        with pytest.raises(InvalidArgument):
            box.initial_endpoints(
                HostConfig(network_mode="none"), NetworkingConfig(endpoints_config={"bridge": EndpointSettings()})
            )

    asyncio.run(case())


def test_an_unknown_network_is_kept_by_name_and_fails_the_start(tmp_path: Path) -> None:
    async def case() -> None:
        svc = network_service(tmp_path)
        await svc.ready()
        box = Sandboxes(networks=svc)
        eps = box.initial_endpoints(HostConfig(network_mode="nonexist"), NetworkingConfig())
        assert list(eps) == ["nonexist"]  # the create succeeds, as in dockerd
        with pytest.raises(NotFound) as e:
            box.plan(_container("aa", eps))
        assert e.value.message == "network nonexist not found"
        await svc.create(NetworkCreate(name="nonexist"))  # made after the create: the start works
        assert box.plan(_container("aa", eps))["nonexist"].ip_address

    asyncio.run(case())
