"""A container's resource limits: ``Resources`` checked with dockerd's rules and messages,
turned into OCI ``linux.resources``, and merged for ``docker update``.

Pure functions (no I/O but the stat of a throttled device's path and the host's CPU list):
the container's monitor applies the result to the cgroup.
"""

from __future__ import annotations

import os
from dataclasses import fields, replace
from typing import Any

from ballena.core.containerconfig import HostConfig, Resources, RestartPolicy, ThrottleDevice, UpdateConfig
from ballena.errors import InvalidArgument

__all__ = ["MIN_MEMORY", "merge_update", "oci", "validate"]

MIN_MEMORY = 6 * 1024 * 1024  # dockerd's linuxMinMemory
# What ``docker update`` may change (dockerd's list, and the limits it validates together).
_UPDATABLE = (
    "memory",
    "memory_swap",
    "memory_reservation",
    "memory_swappiness",
    "oom_kill_disable",
    "nano_cpus",
    "cpu_shares",
    "cpu_period",
    "cpu_quota",
    "cpu_realtime_period",
    "cpu_realtime_runtime",
    "cpuset_cpus",
    "cpuset_mems",
    "pids_limit",
    "blkio_weight",
    "blkio_device_read_bps",
    "blkio_device_write_bps",
    "blkio_device_read_i_ops",
    "blkio_device_write_i_ops",
)
_GIVEN_WHEN_NOT_NONE = ("pids_limit", "memory_swappiness")  # zero is a real value for these


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


def validate(r: Resources, *, update: bool = False) -> list[str]:
    """Check ``r`` as dockerd does. Returns warnings; raises InvalidArgument with dockerd's
    message for what it refuses."""
    warnings: list[str] = []
    memory, swap, reservation = r.memory, r.memory_swap, r.memory_reservation
    if memory and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if not memory and swap > 0 and not update:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    swappiness = r.memory_swappiness
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidArgument(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    if reservation and reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if r.oom_kill_disable and not memory:
        warnings.append(
            "OOM killer is disabled for the container, but no memory limit is set, "
            "this can result in the system running out of resources."
        )
    nano, period, quota = r.nano_cpus, r.cpu_period, r.cpu_quota
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
    for value, what, path in (
        (r.cpuset_cpus, "cpus", "/sys/devices/system/cpu/online"),
        (r.cpuset_mems, "mems", "/sys/devices/system/node/online"),
    ):
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
    if r.blkio_weight and not 10 <= r.blkio_weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if r.pids_limit is not None and r.pids_limit < -1:
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


def oci(r: Resources) -> dict[str, Any]:
    """The OCI ``linux.resources`` (less devices) of ``r``. Raises InvalidArgument for a
    throttled device that does not exist."""
    out: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if r.memory:
        mem["limit"] = r.memory
        # Docker: no --memory-swap means swap as large as the memory (twice the limit in all).
        mem["swap"] = r.memory * 2 if not r.memory_swap else r.memory_swap
    if r.memory_reservation:
        mem["reservation"] = r.memory_reservation
    if r.oom_kill_disable:
        mem["disableOOMKiller"] = True
    if r.memory_swappiness is not None and r.memory_swappiness >= 0:
        mem["swappiness"] = r.memory_swappiness
    if mem:
        out["memory"] = mem
    cpu: dict[str, Any] = {}
    if r.cpu_shares:
        cpu["shares"] = r.cpu_shares
    if r.nano_cpus:
        cpu["period"] = 100000
        cpu["quota"] = r.nano_cpus * 100000 // 10**9
    if r.cpu_period:
        cpu["period"] = r.cpu_period
    if r.cpu_quota:
        cpu["quota"] = r.cpu_quota
    if r.cpuset_cpus:
        cpu["cpus"] = r.cpuset_cpus
    if r.cpuset_mems:
        cpu["mems"] = r.cpuset_mems
    if cpu:
        out["cpu"] = cpu
    if r.pids_limit not in (None, 0):
        out["pids"] = {"limit": r.pids_limit}
    blk: dict[str, Any] = {}
    if r.blkio_weight:
        blk["weight"] = r.blkio_weight
    for key, devices in (
        ("throttleReadBpsDevice", r.blkio_device_read_bps),
        ("throttleWriteBpsDevice", r.blkio_device_write_bps),
        ("throttleReadIOPSDevice", r.blkio_device_read_i_ops),
        ("throttleWriteIOPSDevice", r.blkio_device_write_i_ops),
    ):
        items = [_throttle(d) for d in devices or ()]
        if items:
            blk[key] = items
    if blk:
        out["blockIO"] = blk
    return out


def _throttle(d: ThrottleDevice) -> dict[str, int]:
    try:
        st = os.stat(d.path)
    except OSError:
        raise InvalidArgument(f"invalid device path {d.path}") from None
    return {"major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev), "rate": d.rate}


def _given(name: str, value: Any) -> bool:
    if name in _GIVEN_WHEN_NOT_NONE:
        return value is not None
    return value not in (None, 0, "", (), False)


def merge_update(hc: HostConfig, upd: UpdateConfig) -> tuple[HostConfig, dict[str, Any]]:
    """``docker update``: the new HostConfig and the OCI resources to apply to a running
    container. As dockerd, a zero or absent field leaves the current value (PidsLimit and
    swappiness change whenever given, the restart policy whenever named). Raises
    InvalidArgument."""
    changed = {name: getattr(upd.resources, name) for name in _UPDATABLE if _given(name, getattr(upd.resources, name))}
    if "nano_cpus" in changed:  # one way of limiting the CPU replaces the other
        changed.update(cpu_period=0, cpu_quota=0)
    elif "cpu_period" in changed or "cpu_quota" in changed:
        changed.update(nano_cpus=0)
    new = replace(hc.resources, **changed)
    # dockerd refuses a memory limit above the swap limit already set (0, never set, too);
    # an unlimited swap (-1) conflicts with nothing, so it is let through here.
    if "memory" in changed and "memory_swap" not in changed and new.memory_swap != -1 and new.memory > new.memory_swap:
        raise InvalidArgument(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        )
    policy = hc.restart_policy
    if upd.restart_policy.name:
        if hc.auto_remove and upd.restart_policy.name != "no":
            raise InvalidArgument("Restart policy cannot be updated because AutoRemove is enabled for the container")
        policy = RestartPolicy(name=upd.restart_policy.name, maximum_retry_count=upd.restart_policy.maximum_retry_count)
    validate(new, update=True)
    # What to write to the cgroup: the changed fields, with their companions (the kernel
    # takes a memory limit and its swap limit together, a CFS quota with its period).
    apply = {name: getattr(new, name) for name in changed}
    if {"memory", "memory_swap"} & set(changed):
        apply.update(memory=new.memory, memory_swap=new.memory_swap)
    if {"nano_cpus", "cpu_period", "cpu_quota"} & set(changed):
        apply.update(nano_cpus=new.nano_cpus, cpu_period=new.cpu_period, cpu_quota=new.cpu_quota)
    source = Resources(**{f.name: apply.get(f.name, _zero(f.name)) for f in fields(Resources)})
    return hc.with_(resources=new, restart_policy=policy), oci(source)


def _zero(name: str) -> Any:
    return getattr(Resources(), name)
