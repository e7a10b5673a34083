"""``docker network connect`` / ``disconnect`` of a created container, over real stores and a
fake bridge driver: Docker's refusals, and the container's networks as saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballena.core.containerconfig import ContainerConfig, EndpointSettings, HostConfig
from ballena.core.networks import NetworkCreate
from ballena.errors import Forbidden, InvalidArgument, NotFound
from ballena.services.containers import NetworkAttachments
from ballena.services.sandboxes import Sandboxes
from tests.unit.services.containers.test_lifecycle import World, world_case
from tests.unit.services.fakes import network_service


async def attachments(w: World, tmp: Path) -> NetworkAttachments:
    networks = network_service(tmp)
    await networks.ready()
    await networks.create(NetworkCreate(name="front"))
    return NetworkAttachments(
        store=w.store,
        queries=w.queries,
        sandboxes=Sandboxes(networks=networks),
        etc=w.lifecycle.bundles.etc,
        locks=w.lifecycle.locks,
    )


@world_case
async def test_connect_and_disconnect_a_created_container(w: World) -> None:
    a = await attachments(w, w.paths.data_root)
    c, _ = await w.lifecycle.create(name="web", config=ContainerConfig(image="base"), host_config=HostConfig())
    await a.connect("web", "front", EndpointSettings(aliases=("www",)))
    saved = w.store.get(c.id).networks["front"]
    assert saved.aliases == ("www",) and saved.ip_address == ""  # addresses come at start
    with pytest.raises(Forbidden) as e:
        await a.connect("web", "front", EndpointSettings())
    assert e.value.message == "endpoint with name web already exists in network front"
    with pytest.raises(NotFound) as e:
        await a.connect("web", "nonexist", EndpointSettings())
    assert e.value.message == "network nonexist not found"
    await a.disconnect("web", "front")
    assert "front" not in w.store.get(c.id).networks
    with pytest.raises(Forbidden) as e:
        await a.disconnect("web", "front")
    assert e.value.message == f"container {c.id} is not connected to network front"
    await a.disconnect("web", "front", force=True)  # forced: nothing to do is fine


@world_case
async def test_a_shared_namespace_takes_no_network(w: World) -> None:
    a = await attachments(w, w.paths.data_root)
    await w.lifecycle.create(
        name="hostnet", config=ContainerConfig(image="base"), host_config=HostConfig(network_mode="host")
    )
    with pytest.raises(InvalidArgument) as e:
        await a.connect("hostnet", "front", EndpointSettings())
    assert "cannot be connected to any other network" in e.value.message
    bare = NetworkAttachments(
        store=w.store, queries=w.queries, sandboxes=None, etc=w.lifecycle.bundles.etc, locks=w.lifecycle.locks
    )
    with pytest.raises(InvalidArgument):
        await bare.connect("hostnet", "front", EndpointSettings())
