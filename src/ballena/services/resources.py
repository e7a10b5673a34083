"""A container's resource limits: Docker's HostConfig fields checked with dockerd's rules and
messages, turned into OCI ``linux.resources``, and merged for ``docker update``.

Pure functions (no I/O but the stat of a throttled device's path): the container service
applies the result to the cgroup.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ballena.errors import InvalidArgument

MIN_MEMORY = 6 * 1024 * 1024  # dockerd's linuxMinMemory
RESOURCE_KEYS = (
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "MemorySwappiness",
    "OomKillDisable",
    "NanoCpus",
    "CpuShares",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "BlkioWeight",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
)


def _cpu_list(text: str) -> set[int]:
    """A cpuset list (``0-2,4``); raises ValueError when malformed."""
    out: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        a = int(lo)
        b = int(hi) if sep else a
        if a < 0 or b < a:
            raise ValueError(text)
        out.update(range(a, b + 1))
    return out


def _online(path: str, fallback: int) -> set[int]:
    try:
        with open(path) as f:
            return _cpu_list(f.read().strip())
    except (OSError, ValueError):
        return set(range(fallback))


def validate(hc: Mapping[str, Any], *, update: bool = False) -> list[str]:
    """Check the resource fields of ``hc`` as dockerd does. Returns warnings; raises
    InvalidArgument with dockerd's message for what it refuses."""
    warnings: list[str] = []
    memory = int(hc.get("Memory") or 0)
    swap = int(hc.get("MemorySwap") or 0)
    reservation = int(hc.get("MemoryReservation") or 0)
    if memory and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if not memory and swap > 0 and not update:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and int(swappiness) != -1 and not 0 <= int(swappiness) <= 100:
        raise InvalidArgument(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    if reservation and reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if hc.get("OomKillDisable") and not memory:
        warnings.append(
            "OOM killer is disabled for the container, but no memory limit is set, "
            "this can result in the system running out of resources."
        )
    nano = int(hc.get("NanoCpus") or 0)
    period = int(hc.get("CpuPeriod") or 0)
    quota = int(hc.get("CpuQuota") or 0)
    ncpu = os.cpu_count() or 1
    if nano and period:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano and quota:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano < 0 or nano > ncpu * 10**9:
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if quota > 0 and quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    for key, what, path in (
        ("CpusetCpus", "cpus", "/sys/devices/system/cpu/online"),
        ("CpusetMems", "mems", "/sys/devices/system/node/online"),
    ):
        value = hc.get(key) or ""
        if not value:
            continue
        try:
            wanted = _cpu_list(value)
        except ValueError:
            raise InvalidArgument(f"Invalid value {value} for cpuset {what}") from None
        available = _online(path, ncpu if what == "cpus" else 1)
        if not wanted <= available:
            raise InvalidArgument(
                f"Requested {what.upper() if what == 'cpus' else 'memory nodes'} are not available - requested "
                f"{value}, available: {_ranges(available)}"
            )
    weight = int(hc.get("BlkioWeight") or 0)
    if weight and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    pids = hc.get("PidsLimit")
    if pids is not None and int(pids) < -1:
        raise InvalidArgument("invalid PIDs limit: must be -1, 0 or a positive number")
    return warnings


def _ranges(cpus: set[int]) -> str:
    out, items = [], sorted(cpus)
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ",".join(out)


def oci(hc: Mapping[str, Any]) -> dict[str, Any]:
    """The OCI ``linux.resources`` (less devices) for Docker's HostConfig resource fields."""
    r: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if hc.get("Memory"):
        mem["limit"] = int(hc["Memory"])
        swap = hc.get("MemorySwap")
        # Docker: no --memory-swap means swap as large as the memory (twice the limit in all).
        mem["swap"] = int(hc["Memory"]) * 2 if swap in (None, 0) else int(swap)
    if hc.get("MemoryReservation"):
        mem["reservation"] = int(hc["MemoryReservation"])
    if hc.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    if hc.get("MemorySwappiness") is not None and int(hc["MemorySwappiness"]) >= 0:
        mem["swappiness"] = int(hc["MemorySwappiness"])
    if mem:
        r["memory"] = mem
    cpu: dict[str, Any] = {}
    if hc.get("CpuShares"):
        cpu["shares"] = int(hc["CpuShares"])
    if hc.get("NanoCpus"):
        cpu["period"] = 100000
        cpu["quota"] = int(hc["NanoCpus"]) * 100000 // 10**9
    if hc.get("CpuPeriod"):
        cpu["period"] = int(hc["CpuPeriod"])
    if hc.get("CpuQuota"):
        cpu["quota"] = int(hc["CpuQuota"])
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        cpu["mems"] = hc["CpusetMems"]
    if cpu:
        r["cpu"] = cpu
    if hc.get("PidsLimit") not in (None, 0):
        r["pids"] = {"limit": int(hc["PidsLimit"])}
    blk: dict[str, Any] = {}
    if hc.get("BlkioWeight"):
        blk["weight"] = int(hc["BlkioWeight"])
    for key, api in (
        ("throttleReadBpsDevice", "BlkioDeviceReadBps"),
        ("throttleWriteBpsDevice", "BlkioDeviceWriteBps"),
        ("throttleReadIOPSDevice", "BlkioDeviceReadIOps"),
        ("throttleWriteIOPSDevice", "BlkioDeviceWriteIOps"),
    ):
        items = []
        for d in hc.get(api) or []:
            try:
                st = os.stat(d["Path"])
            except OSError:
                raise InvalidArgument(f"invalid device path {d.get('Path')}") from None
            items.append({"major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev), "rate": int(d["Rate"])})
        if items:
            blk[key] = items
    if blk:
        r["blockIO"] = blk
    return r


def merge_update(hc: Mapping[str, Any], body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``docker update``: the new HostConfig and the OCI resources to apply to a running
    container. As dockerd, a zero or absent field leaves the current value (PidsLimit and
    the restart policy are changed whenever given). Raises InvalidArgument."""
    new = dict(hc)
    changed: dict[str, Any] = {}
    for key in RESOURCE_KEYS:
        value = body.get(key)
        if key == "PidsLimit":
            if value is not None:
                new[key] = changed[key] = int(value)
            continue
        if value in (None, 0, "", [], False):
            continue
        new[key] = changed[key] = value
    if "NanoCpus" in changed:  # one way of limiting the CPU replaces the other
        new["CpuPeriod"] = new["CpuQuota"] = 0
    elif "CpuPeriod" in changed or "CpuQuota" in changed:
        new["NanoCpus"] = 0
    memory = int(new.get("Memory") or 0)
    swap = int(new.get("MemorySwap") or 0)
    # dockerd refuses a memory limit above the swap limit already set (0, never set, too);
    # an unlimited swap (-1) conflicts with nothing, so it is let through here.
    if "Memory" in changed and "MemorySwap" not in changed and swap != -1 and memory > swap:
        raise InvalidArgument(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        )
    policy = body.get("RestartPolicy") or {}
    if policy.get("Name"):
        if hc.get("AutoRemove") and policy["Name"] != "no":
            raise InvalidArgument("Restart policy cannot be updated because AutoRemove is enabled for the container")
        new["RestartPolicy"] = {"Name": policy["Name"], "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0)}
    validate(new, update=True)
    # What to write to the cgroup: the changed fields, with their companions (the kernel
    # takes a memory limit and its swap limit together, a CFS quota with its period).
    source = {k: new.get(k) for k in changed}
    if {"Memory", "MemorySwap"} & set(changed):
        source.update(Memory=memory, MemorySwap=new.get("MemorySwap"))
    if {"NanoCpus", "CpuPeriod", "CpuQuota"} & set(changed):
        source.update({k: new.get(k) for k in ("NanoCpus", "CpuPeriod", "CpuQuota")})
    return new, oci(source)
