"""Endpoint reservations: one address, one holder, whatever runs at once, across restarts."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from ballena.core.networks import Endpoint, IPAMPool, Network
from ballena.errors import AlreadyExists, Conflict
from ballena.network import ipam
from ballena.stores.metadata import Database
from ballena.stores.networks import NetworkStore

POOL = IPAMPool(subnet="10.0.0.0/24", gateway="10.0.0.1")


@pytest.fixture
def store(tmp_path: Path) -> NetworkStore:
    s = NetworkStore(Database(tmp_path / "m.db"))
    s.add(Network(id="n1", name="front", driver="bridge", created_ns=1, pools=(POOL,), bridge="br-front"))
    return s


def _reserve(store: NetworkStore, cid: str, wanted: str = "") -> Endpoint:
    def choose(held: set[str]) -> Endpoint:
        ip = ipam.allocate(POOL, held, wanted=wanted)
        return Endpoint(network_id="n1", container_id=cid, container_name=cid, endpoint_id="e" + cid, ipv4=ip)

    return store.reserve("n1", cid, choose)


def test_networks_round_trip_with_their_pools(store: NetworkStore) -> None:
    n = store.get("n1")
    assert n.pools == (POOL,) and n.subnet == "10.0.0.0/24"
    with pytest.raises(AlreadyExists):
        store.add(Network(id="n2", name="front", driver="bridge", created_ns=2))


def test_each_container_gets_its_own_address(store: NetworkStore) -> None:
    ips = [_reserve(store, f"c{i}").ipv4 for i in range(5)]
    assert ips == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]


def test_concurrent_reservations_never_share_an_address(store: NetworkStore) -> None:
    got: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        ep = _reserve(store, f"t{i}")
        with lock:
            got.append(ep.ipv4)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 24 and len(set(got)) == 24


def test_a_held_wanted_address_is_a_conflict(store: NetworkStore) -> None:
    _reserve(store, "a", "10.0.0.9")
    with pytest.raises(Conflict):
        _reserve(store, "b", "10.0.0.9")


def test_the_table_itself_refuses_a_second_holder(store: NetworkStore) -> None:
    _reserve(store, "a", "10.0.0.9")
    with pytest.raises(Conflict):
        store.reserve(
            "n1",
            "b",
            lambda held: Endpoint(
                network_id="n1", container_id="b", container_name="b", endpoint_id="x", ipv4="10.0.0.9"
            ),
        )


def test_release_frees_and_keep_only_sweeps(store: NetworkStore) -> None:
    a, _b = _reserve(store, "a"), _reserve(store, "b")
    store.release("a")
    assert _reserve(store, "c").ipv4 == a.ipv4
    store.keep_only(["c"])
    assert [e.container_id for e in store.endpoints(network_id="n1")] == ["c"]


def test_reservations_survive_a_reopen(tmp_path: Path, store: NetworkStore) -> None:
    _reserve(store, "a")
    again = NetworkStore(Database(tmp_path / "m.db"))
    assert [e.ipv4 for e in again.endpoints(container_id="a")] == ["10.0.0.2"]


def test_rename_and_removal(store: NetworkStore) -> None:
    _reserve(store, "a")
    store.rename("a", "alpha")
    assert store.endpoints(container_id="a")[0].container_name == "alpha"
    store.remove("n1")
    assert store.endpoints() == [] and store.all() == []


def test_a_version_1_database_opens(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.executescript(
        "CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, driver TEXT NOT NULL, subnet TEXT NOT NULL,"
        " gateway TEXT NOT NULL, ip_range TEXT NOT NULL, bridge TEXT NOT NULL, internal INTEGER NOT NULL,"
        " attachable INTEGER NOT NULL, labels TEXT NOT NULL, options TEXT NOT NULL, created INTEGER NOT NULL,"
        " builtin INTEGER NOT NULL);"
        "INSERT INTO networks VALUES ('x','old','bridge','10.7.0.0/16','10.7.0.1','','b',0,0,'{}','{}',1,0);"
    )
    conn.commit()
    conn.close()
    n = NetworkStore(Database(tmp_path / "old.db")).get("x")
    assert n.pools == (IPAMPool(subnet="10.7.0.0/16", gateway="10.7.0.1"),) and n.pools_configured
