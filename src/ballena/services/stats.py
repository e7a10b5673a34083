"""``docker stats``: a container's resource use, read from its cgroup and network namespace, in
the JSON the Engine API returns (``GET /containers/{id}/stats``).

What the docker CLI computes from it, and so what must be right here:

- CPU % = (Δ ``cpu_stats.cpu_usage.total_usage`` / Δ ``system_cpu_usage``) x ``online_cpus``
  x 100, the deltas taken against ``precpu_stats`` (the previous sample) in the same message;
- MEM USAGE = ``memory_stats.usage`` minus the inactive page cache (``total_inactive_file`` on
  cgroup v1, ``inactive_file`` on v2), LIMIT = ``memory_stats.limit`` (the host's memory when
  the container has no limit, as dockerd reports it);
- NET I/O from ``networks`` (the container's ``/proc/<pid>/net/dev``), BLOCK I/O from
  ``blkio_stats.io_service_bytes_recursive`` (ops "read"/"write", any case), PIDS from
  ``pids_stats.current``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from ballena.core.containers import Container
from ballena.pkg.timeutil import now_ns, rfc3339nano
from ballena.runtime import cgroups

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_ZERO_TIME = "0001-01-01T00:00:00Z"
# A v1 memory limit this large means "no limit" (PAGE_COUNTER_MAX rounded to pages).
_UNLIMITED = 1 << 62
INTERVAL = 1.0  # between streamed samples, as dockerd


def host_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def system_cpu_usage() -> int:
    """All CPUs' time since boot (the first line of /proc/stat), in nanoseconds."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]  # user nice system idle iowait irq softirq
    return sum(int(x) for x in fields) * 1_000_000_000 // _CLK_TCK


def _read(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _int(text: str | None) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        return 0


def _join(d: str | None, name: str) -> str | None:
    return os.path.join(d, name) if d else None


def _blkio_v1(text: str | None) -> list[dict[str, Any]]:
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        major, minor = parts[0].split(":")
        out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def _io_v2(text: str | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """io.stat lines ``8:0 rbytes=.. wbytes=.. rios=.. wios=..`` as v1-style entries."""
    service_bytes: list[dict[str, Any]] = []
    serviced: list[dict[str, Any]] = []
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, minor = (int(x) for x in parts[0].split(":"))
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, op, into in (
            ("rbytes", "read", service_bytes),
            ("wbytes", "write", service_bytes),
            ("rios", "read", serviced),
            ("wios", "write", serviced),
        ):
            if key in kv:
                into.append({"major": major, "minor": minor, "op": op, "value": _int(kv[key])})
    return service_bytes, serviced


def _networks(pid: int) -> dict[str, dict[str, int]] | None:
    text = _read(f"/proc/{pid}/net/dev") if pid else None
    if text is None:
        return None
    out = {}
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        name = name.strip()
        v = rest.split()
        if name == "lo" or len(v) < 16:
            continue
        out[name] = {
            "rx_bytes": int(v[0]),
            "rx_packets": int(v[1]),
            "rx_errors": int(v[2]),
            "rx_dropped": int(v[3]),
            "tx_bytes": int(v[8]),
            "tx_packets": int(v[9]),
            "tx_errors": int(v[10]),
            "tx_dropped": int(v[11]),
        }
    return out or None


def _cpu(cg: cgroups.Cgroup) -> dict[str, Any]:
    online = os.cpu_count() or 1
    if cg.v2_resources:
        st = cgroups.read_kv(os.path.join(cg.unified_dir or "", "cpu.stat"))
        return {
            "cpu_usage": {
                "total_usage": st.get("usage_usec", 0) * 1000,
                "usage_in_kernelmode": st.get("system_usec", 0) * 1000,
                "usage_in_usermode": st.get("user_usec", 0) * 1000,
            },
            "system_cpu_usage": system_cpu_usage(),
            "online_cpus": online,
            "throttling_data": {
                "periods": st.get("nr_periods", 0),
                "throttled_periods": st.get("nr_throttled", 0),
                "throttled_time": st.get("throttled_usec", 0) * 1000,
            },
        }
    acct = cg.v1_dir("cpuacct")
    percpu = [int(x) for x in (_read(_join(acct, "cpuacct.usage_percpu")) or "").split()]
    ticks = cgroups.read_kv(os.path.join(acct, "cpuacct.stat")) if acct else {}
    throttle = cgroups.read_kv(os.path.join(cg.v1_dir("cpu") or "", "cpu.stat")) if cg.v1_dir("cpu") else {}
    return {
        "cpu_usage": {
            "total_usage": _int(_read(_join(acct, "cpuacct.usage"))),
            "percpu_usage": percpu or None,
            "usage_in_kernelmode": ticks.get("system", 0) * 1_000_000_000 // _CLK_TCK,
            "usage_in_usermode": ticks.get("user", 0) * 1_000_000_000 // _CLK_TCK,
        },
        "system_cpu_usage": system_cpu_usage(),
        "online_cpus": online,
        "throttling_data": {
            "periods": throttle.get("nr_periods", 0),
            "throttled_periods": throttle.get("nr_throttled", 0),
            "throttled_time": throttle.get("throttled_time", 0),
        },
    }


def _memory(cg: cgroups.Cgroup, host_mem: int) -> dict[str, Any]:
    if cg.v2_resources:
        u = cg.unified_dir or ""
        limit_text = (_read(os.path.join(u, "memory.max")) or "max").strip()
        limit = host_mem if limit_text == "max" else _int(limit_text)
        return {
            "usage": _int(_read(os.path.join(u, "memory.current"))),
            "stats": cgroups.read_kv(os.path.join(u, "memory.stat")),
            "limit": min(limit, host_mem) if host_mem else limit,
        }
    d = cg.v1_dir("memory")
    if d is None:
        return {}
    limit = _int(_read(os.path.join(d, "memory.limit_in_bytes")))
    if not limit or limit >= _UNLIMITED or (host_mem and limit > host_mem):
        limit = host_mem
    return {
        "usage": _int(_read(os.path.join(d, "memory.usage_in_bytes"))),
        "max_usage": _int(_read(os.path.join(d, "memory.max_usage_in_bytes"))),
        "failcnt": _int(_read(os.path.join(d, "memory.failcnt"))),
        "stats": cgroups.read_kv(os.path.join(d, "memory.stat")),
        "limit": limit,
    }


def _pids(cg: cgroups.Cgroup) -> dict[str, int]:
    d = cg.unified_dir if cg.v2_resources else cg.v1_dir("pids")
    if d is None:
        return {}
    out = {"current": _int(_read(os.path.join(d, "pids.current")))}
    limit = (_read(os.path.join(d, "pids.max")) or "max").strip()
    if limit != "max":
        out["limit"] = _int(limit)
    return out


def _blkio(cg: cgroups.Cgroup) -> dict[str, Any]:
    empty = _blkio_empty()
    if cg.v2_resources:
        service_bytes, serviced = _io_v2(_read(_join(cg.unified_dir, "io.stat")))
        return {**empty, "io_service_bytes_recursive": service_bytes, "io_serviced_recursive": serviced}
    d = cg.v1_dir("blkio")
    return {
        **empty,
        "io_service_bytes_recursive": _blkio_v1(_read(_join(d, "blkio.throttle.io_service_bytes_recursive"))),
        "io_serviced_recursive": _blkio_v1(_read(_join(d, "blkio.throttle.io_serviced_recursive"))),
    }


def blank(c: Container) -> dict[str, Any]:
    """What dockerd answers for a container that is not running: its name and zeros."""
    return {
        "name": "/" + c.name,
        "id": c.id,
        "read": _ZERO_TIME,
        "preread": _ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": _blkio_empty(),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _zero_cpu(),
        "precpu_stats": _zero_cpu(),
        "memory_stats": {},
    }


def _zero_cpu() -> dict[str, Any]:
    return {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }


def _blkio_empty() -> dict[str, Any]:
    return {
        k: []
        for k in (
            "io_service_bytes_recursive",
            "io_serviced_recursive",
            "io_queue_recursive",
            "io_service_time_recursive",
            "io_wait_time_recursive",
            "io_merged_recursive",
            "io_time_recursive",
            "sectors_recursive",
        )
    }


class StatsService:
    """Samples of running containers' resource use."""

    def __init__(self, *, get: Callable[[str], Container], cgroup_path: Callable[[Container], str]) -> None:
        self._get = get
        self._cgroup_path = cgroup_path
        self._host_mem = host_memory()

    def sample(self, c: Container) -> dict[str, Any]:
        """One reading (blocking: a handful of small file reads)."""
        cg = cgroups.Cgroup(self._cgroup_path(c))
        out: dict[str, Any] = {
            "name": "/" + c.name,
            "id": c.id,
            "read": rfc3339nano(now_ns()),
            "preread": _ZERO_TIME,
            "pids_stats": _pids(cg),
            "blkio_stats": _blkio(cg),
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": _cpu(cg),
            "precpu_stats": _zero_cpu(),
            "memory_stats": _memory(cg, self._host_mem),
        }
        nets = _networks(c.state.pid)
        if nets is not None:
            out["networks"] = nets
        return out

    async def stream(self, ref: str, *, stream: bool, one_shot: bool) -> AsyncGenerator[dict[str, Any], None]:
        """Samples of ``ref``: every second while it runs (``stream``), or one. A single sample
        that is not ``one_shot`` carries a previous reading taken a moment before, so that the
        CPU percentage can be computed (dockerd waits a whole second for that; half is enough
        for a ratio)."""
        c = self._get(ref)
        if not c.state.running:
            yield blank(c)
            return
        prev: dict[str, Any] | None = None
        if not stream and not one_shot:
            prev = await asyncio.to_thread(self.sample, c)
            await asyncio.sleep(INTERVAL / 2)
        while True:
            c = self._get(c.id)
            if not c.state.running:
                if prev is None or not stream:
                    yield blank(c)
                return
            started = time.monotonic()
            cur = await asyncio.to_thread(self.sample, c)
            if prev is not None:
                cur["precpu_stats"] = prev["cpu_stats"]
                cur["preread"] = prev["read"]
            yield cur
            if not stream:
                return
            prev = cur
            await asyncio.sleep(max(0.0, INTERVAL - (time.monotonic() - started)))
