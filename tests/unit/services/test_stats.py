"""``docker stats`` samples read from a stand-in cgroup tree, in dockerd's JSON."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ballena.core.containerconfig import ContainerConfig, HostConfig
from ballena.core.containers import Container, State
from ballena.runtime import cgroups
from ballena.services.stats import StatsService


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    mounts = {}
    for c in ("cpu", "cpuacct", "memory", "pids", "blkio"):
        d = tmp_path / c / "ballena" / "abc"
        d.mkdir(parents=True)
        mounts[c] = str(tmp_path / c)
    (tmp_path / "cpuacct/ballena/abc/cpuacct.usage").write_text("5000000000\n")
    (tmp_path / "cpuacct/ballena/abc/cpuacct.usage_percpu").write_text("3000000000 2000000000\n")
    (tmp_path / "cpuacct/ballena/abc/cpuacct.stat").write_text("user 300\nsystem 100\n")
    (tmp_path / "cpu/ballena/abc/cpu.stat").write_text("nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n")
    (tmp_path / "memory/ballena/abc/memory.usage_in_bytes").write_text("10485760\n")
    (tmp_path / "memory/ballena/abc/memory.max_usage_in_bytes").write_text("20971520\n")
    (tmp_path / "memory/ballena/abc/memory.limit_in_bytes").write_text("67108864\n")
    (tmp_path / "memory/ballena/abc/memory.failcnt").write_text("0\n")
    (tmp_path / "memory/ballena/abc/memory.stat").write_text("cache 4096\nrss 8192\n")
    (tmp_path / "pids/ballena/abc/pids.current").write_text("3\n")
    (tmp_path / "pids/ballena/abc/pids.max").write_text("20\n")
    monkeypatch.setattr(cgroups, "_layout", cgroups.Layout(v1=mounts))
    return tmp_path


def _c(status: str) -> Container:
    return Container(
        id="abc", name="web", created_ns=0, image="i", image_id="i", path="sh", args=(), config=ContainerConfig(),
        host_config=HostConfig(), state=State(status=status, pid=0),
    )  # fmt: skip


def _svc(status: str = "running") -> StatsService:
    return StatsService(get=lambda ref: _c(status), cgroup_path=lambda c: "/ballena/abc")


def test_a_sample_reads_the_cgroup(tree: Path) -> None:
    s = _svc().sample(_c("running"))
    assert s["name"] == "/web" and s["id"] == "abc"
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 5_000_000_000
    assert s["cpu_stats"]["cpu_usage"]["percpu_usage"] == [3_000_000_000, 2_000_000_000]
    assert s["cpu_stats"]["throttling_data"] == {"periods": 10, "throttled_periods": 2, "throttled_time": 5000}
    assert s["memory_stats"]["usage"] == 10 << 20 and s["memory_stats"]["limit"] == 64 << 20
    assert s["memory_stats"]["stats"] == {"cache": 4096, "rss": 8192}
    assert s["pids_stats"] == {"current": 3, "limit": 20}


def test_a_stopped_container_gets_a_blank_sample(tree: Path) -> None:
    async def go() -> list[dict[str, object]]:
        return [x async for x in _svc("exited").stream("abc", stream=False, one_shot=False)]

    samples = asyncio.run(go())
    assert len(samples) == 1 and samples[0]["memory_stats"] == {} and samples[0]["name"] == "/web"


def test_one_shot_reads_once_without_a_previous_reading(tree: Path) -> None:
    async def go() -> list[dict[str, object]]:
        return [x async for x in _svc().stream("abc", stream=False, one_shot=True)]

    (sample,) = asyncio.run(go())
    assert sample["precpu_stats"]["cpu_usage"]["total_usage"] == 0  # type: ignore[index]
