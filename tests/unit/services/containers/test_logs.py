"""``docker logs`` from a json-file log: streams, tail, since/until, timestamps."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ballena.core.containerconfig import ContainerConfig, HostConfig, LogConfig
from ballena.core.containers import Container, State
from ballena.errors import InvalidArgument
from ballena.services.containers import ContainerQueries, LogDefaults, Logs, Paths
from ballena.stores.containers import ContainerStore

LINES = [("stdout", "one\n", "2024-01-01T00:00:01.000000001Z"), ("stderr", "oops\n", "2024-01-01T00:00:02Z"),
         ("stdout", "two\n", "2024-01-01T00:00:03Z")]  # fmt: skip


@pytest.fixture
def logs(tmp_path: Path) -> tuple[Logs, ContainerStore]:
    store = ContainerStore(tmp_path)
    for cid, driver in (("a" * 64, ""), ("b" * 64, "none")):
        store.save(
            Container(
                id=cid,
                name=cid[:2],
                created_ns=0,
                image="i",
                image_id="i",
                path="sh",
                args=(),
                config=ContainerConfig(),
                host_config=HostConfig(log_config=LogConfig(type=driver)),
                state=State(status="exited"),
            )  # fmt: skip
        )
    with open(store.log_path("a" * 64), "w") as f:
        for stream, log, t in LINES:
            f.write(json.dumps({"log": log, "stream": stream, "time": t}) + "\n")
    queries = ContainerQueries(
        store=store,
        images=None,
        paths=Paths(data_root=tmp_path, exec_root=tmp_path),
        log_defaults=LogDefaults(),
        cgroup_version="1",
    )  # type: ignore[arg-type]
    return Logs(store=store, queries=queries, driver_of=lambda c: c.host_config.log_config.type or "json-file"), store


def _read(logs: Logs, **kw: object) -> list[tuple[int, bytes]]:
    args: dict[str, object] = {
        "stdout": True,
        "stderr": True,
        "follow": False,
        "since_ns": 0,
        "until_ns": 0,
        "tail": -1,
        "timestamps": False,
    }
    args.update(kw)

    async def go() -> list[tuple[int, bytes]]:
        _c, entries = await logs.logs("aa", **args)  # type: ignore[arg-type]
        return [e async for e in entries]

    return asyncio.run(go())


def test_both_streams_in_order(logs: tuple[Logs, ContainerStore]) -> None:
    assert _read(logs[0]) == [(1, b"one\n"), (2, b"oops\n"), (1, b"two\n")]


def test_one_stream(logs: tuple[Logs, ContainerStore]) -> None:
    assert _read(logs[0], stderr=False) == [(1, b"one\n"), (1, b"two\n")]


@pytest.mark.parametrize(("tail", "n"), [(0, 0), (1, 1), (2, 2), (10, 3), (-1, 3)])
def test_tail(logs: tuple[Logs, ContainerStore], tail: int, n: int) -> None:
    assert len(_read(logs[0], tail=tail)) == n


def test_since_until_and_timestamps(logs: tuple[Logs, ContainerStore]) -> None:
    since = 1704067202 * 10**9
    assert [d for _s, d in _read(logs[0], since_ns=since)] == [b"oops\n", b"two\n"]
    assert [d for _s, d in _read(logs[0], until_ns=since)] == [b"one\n", b"oops\n"]
    assert _read(logs[0], timestamps=True)[0][1] == b"2024-01-01T00:00:01.000000001Z one\n"


def test_no_stream_and_the_none_driver_are_refused(logs: tuple[Logs, ContainerStore]) -> None:
    with pytest.raises(InvalidArgument):
        _read(logs[0], stdout=False, stderr=False)

    async def none_driver() -> None:
        await logs[0].logs(
            "bb", stdout=True, stderr=True, follow=False, since_ns=0, until_ns=0, tail=-1, timestamps=False
        )

    with pytest.raises(InvalidArgument) as e:
        asyncio.run(none_driver())
    assert e.value.message == "configured logging driver does not support reading"
