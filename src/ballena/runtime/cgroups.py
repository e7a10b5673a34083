"""One cgroup per container, on cgroup v1, v2, or the hybrid of both.

On v1 each controller is its own hierarchy (``/sys/fs/cgroup/memory/ballena/<id>`` ...); cpuset
needs ``cpus``/``mems`` copied down before a task may join. On v2 one directory holds every
controller once the parent enables them in ``cgroup.subtree_control``. On a hybrid host (v1
controllers plus a controller-less v2 mount) limits go to v1 and ``cgroup.kill``/``events`` to v2.

Writes are plain file writes, all made by the container's monitor, which owns the cgroup:
it creates it, sets the limits, updates and freezes it, and removes it. The daemon only reads
(``stats``, ``top``) and, when a monitor died without finishing, sweeps what it left.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

_V1_CONTROLLERS = (
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "pids",
    "blkio",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    v1: dict[str, str] = field(default_factory=dict)  # controller -> mount point
    unified: str | None = None
    unified_controllers: frozenset[str] = frozenset()
    # v1 hierarchies with no controller (name=systemd): ours never go there, runc's do.
    named: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        return "2" if (self.unified and not self.v1) else "1"


_layout: Layout | None = None


def layout() -> Layout:
    global _layout
    if _layout is None:
        _layout = _detect()
    return _layout


def _detect() -> Layout:
    v1: dict[str, str] = {}
    named: list[str] = []
    unified = None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                rfields = right.split()
                if len(fields) < 5 or len(rfields) < 3:
                    continue
                mountpoint, fstype, opts = fields[4], rfields[0], rfields[2]
                if fstype == "cgroup2":
                    unified = mountpoint
                elif fstype == "cgroup":
                    options = opts.split(",")
                    for opt in options:
                        if opt in _V1_CONTROLLERS and opt not in v1:
                            v1[opt] = mountpoint
                    if any(o.startswith("name=") for o in options) and not any(o in _V1_CONTROLLERS for o in options):
                        named.append(mountpoint)
    except OSError:
        pass
    controllers: frozenset[str] = frozenset()
    if unified:
        try:
            with open(os.path.join(unified, "cgroup.controllers")) as f:
                controllers = frozenset(f.read().split())
        except OSError:
            pass
    return Layout(v1=v1, unified=unified, unified_controllers=controllers, named=tuple(named))


def _write(path: str, value: str) -> None:
    # O_TRUNC as runc writes them: meaningless to cgroupfs, exact on an ordinary file.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


class Cgroup:
    """The cgroup at ``path`` (e.g. ``/ballena/<id>``) in every hierarchy of the host."""

    def __init__(self, path: str, lay: Layout | None = None) -> None:
        self.path = path.strip("/")
        self.layout = lay or layout()

    # -- where it lives -----------------------------------------------------------------------

    def v1_dir(self, controller: str) -> str | None:
        mp = self.layout.v1.get(controller)
        return os.path.join(mp, self.path) if mp else None

    @property
    def unified_dir(self) -> str | None:
        return os.path.join(self.layout.unified, self.path) if self.layout.unified else None

    def dirs(self) -> list[str]:
        out = [os.path.join(mp, self.path) for mp in dict.fromkeys(self.layout.v1.values())]
        if self.unified_dir:
            out.append(self.unified_dir)
        return out

    @property
    def v2_resources(self) -> bool:
        """Whether limits go to the unified hierarchy (pure v2)."""
        return not self.layout.v1 and bool(self.layout.unified_controllers)

    # -- lifecycle ----------------------------------------------------------------------------

    def create(self) -> None:
        for mp in dict.fromkeys(self.layout.v1.values()):
            d = os.path.join(mp, self.path)
            os.makedirs(d, exist_ok=True)
        cpuset = self.layout.v1.get("cpuset")
        if cpuset:
            self._init_cpuset(cpuset)
        if self.layout.unified:
            if self.v2_resources:
                self._enable_v2_controllers()
            os.makedirs(os.path.join(self.layout.unified, self.path), exist_ok=True)

    def _init_cpuset(self, mp: str) -> None:
        # A v1 cpuset is born empty: copy the parent's cpus and mems down each level.
        parts = self.path.split("/")
        for i in range(1, len(parts) + 1):
            d = os.path.join(mp, *parts[:i])
            parent = os.path.dirname(d)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not _read(os.path.join(d, name)).strip():
                    _write(os.path.join(d, name), _read(os.path.join(parent, name)).strip())

    def _enable_v2_controllers(self) -> None:
        assert self.layout.unified
        wanted = [
            c for c in ("cpuset", "cpu", "io", "memory", "pids", "hugetlb") if c in self.layout.unified_controllers
        ]
        parts = self.path.split("/")
        for i in range(0, len(parts)):
            d = os.path.join(self.layout.unified, *parts[:i])
            if i:
                os.makedirs(d, exist_ok=True)
            try:
                _write(os.path.join(d, "cgroup.subtree_control"), " ".join("+" + c for c in wanted))
            except OSError:
                for c in wanted:
                    try:
                        _write(os.path.join(d, "cgroup.subtree_control"), "+" + c)
                    except OSError:
                        pass

    def add(self, pid: int) -> None:
        for d in self.dirs():
            _write(os.path.join(d, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        for d in ([self.unified_dir] if self.unified_dir else []) + [self.v1_dir(c) for c in ("pids", "memory", "cpu")]:
            if d and os.path.isdir(d):
                try:
                    return [int(x) for x in _read(os.path.join(d, "cgroup.procs")).split()]
                except OSError:
                    continue
        return []

    def kill_all(self) -> None:
        ud = self.unified_dir
        if ud and os.path.exists(os.path.join(ud, "cgroup.kill")):
            try:
                _write(os.path.join(ud, "cgroup.kill"), "1")
                return
            except OSError:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def remove(self, *, timeout: float = 2.0) -> None:
        """Remove every directory, waiting briefly for exiting tasks. Idempotent. The named
        hierarchies too: runc makes the path in name=systemd, and nobody else would remove it."""
        deadline = time.monotonic() + timeout
        for d in [*self.dirs(), *(os.path.join(mp, self.path) for mp in self.layout.named)]:
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        break
                    time.sleep(0.005)

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs())

    # -- freezer ------------------------------------------------------------------------------

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def _set_frozen(self, frozen: bool) -> None:
        d = self.v1_dir("freezer")
        if d:
            _write(os.path.join(d, "freezer.state"), "FROZEN" if frozen else "THAWED")
            want = "FROZEN" if frozen else "THAWED"
            for _ in range(2000):
                if _read(os.path.join(d, "freezer.state")).strip() == want:
                    return
                time.sleep(0.001)
            return
        ud = self.unified_dir
        if ud:
            _write(os.path.join(ud, "cgroup.freeze"), "1" if frozen else "0")
            for _ in range(2000):
                if f"frozen {1 if frozen else 0}" in _read(os.path.join(ud, "cgroup.events")):
                    return
                time.sleep(0.001)

    # -- OOM ----------------------------------------------------------------------------------

    def oom_kills(self) -> int:
        """How many tasks the kernel OOM-killed in this cgroup (v1: memory.oom_control's oom_kill)."""
        if self.v2_resources and self.unified_dir:
            return _kv(os.path.join(self.unified_dir, "memory.events")).get("oom_kill", 0)
        d = self.v1_dir("memory")
        if d:
            return _kv(os.path.join(d, "memory.oom_control")).get("oom_kill", 0)
        return 0

    # -- resources ----------------------------------------------------------------------------

    def set_resources(self, r: dict[str, Any]) -> None:
        """Apply OCI ``linux.resources``. Raises OSError naming the file that refused."""
        if self.v2_resources:
            self._set_v2(r)
        else:
            self._set_v1(r)

    def _try(self, path: str | None, value: str) -> None:
        if path is None:
            return
        try:
            _write(path, value)
        except OSError as e:
            raise OSError(e.errno, f"failed to write {value!r} to {path}: {e.strerror}") from None

    def _set_v1(self, r: dict[str, Any]) -> None:
        mem = r.get("memory") or {}
        md = self.v1_dir("memory")
        if md:
            if mem.get("limit") is not None:
                limit = int(mem["limit"])
                swap = mem.get("swap")
                # limit_in_bytes must not exceed memsw, and memsw not fall below limit: order matters.
                memsw = os.path.join(md, "memory.memsw.limit_in_bytes")
                cur = int(_read(os.path.join(md, "memory.limit_in_bytes")))
                if swap is not None and os.path.exists(memsw):
                    if swap == -1 or swap > cur:
                        self._try(memsw, str(swap))
                        self._try(os.path.join(md, "memory.limit_in_bytes"), str(limit))
                    else:
                        self._try(os.path.join(md, "memory.limit_in_bytes"), str(limit))
                        self._try(memsw, str(swap))
                else:
                    self._try(os.path.join(md, "memory.limit_in_bytes"), str(limit))
            if mem.get("reservation") is not None:
                self._try(os.path.join(md, "memory.soft_limit_in_bytes"), str(mem["reservation"]))
            if mem.get("disableOOMKiller"):
                self._try(os.path.join(md, "memory.oom_control"), "1")
            if mem.get("swappiness") is not None and 0 <= int(mem["swappiness"]) <= 100:
                self._try(os.path.join(md, "memory.swappiness"), str(mem["swappiness"]))
        cpu = r.get("cpu") or {}
        cd = self.v1_dir("cpu")
        if cd:
            if cpu.get("shares"):
                self._try(os.path.join(cd, "cpu.shares"), str(cpu["shares"]))
            if cpu.get("period"):
                self._try(os.path.join(cd, "cpu.cfs_period_us"), str(cpu["period"]))
            if cpu.get("quota") is not None and cpu.get("quota") != 0:
                self._try(os.path.join(cd, "cpu.cfs_quota_us"), str(cpu["quota"]))
        sd = self.v1_dir("cpuset")
        if sd:
            if cpu.get("cpus"):
                self._try(os.path.join(sd, "cpuset.cpus"), cpu["cpus"])
            if cpu.get("mems"):
                self._try(os.path.join(sd, "cpuset.mems"), cpu["mems"])
        pids = r.get("pids") or {}
        pd = self.v1_dir("pids")
        if pd and pids.get("limit") is not None:
            limit = int(pids["limit"])
            self._try(os.path.join(pd, "pids.max"), "max" if limit <= 0 else str(limit))
        blk = r.get("blockIO") or {}
        bd = self.v1_dir("blkio")
        if bd:
            if blk.get("weight"):
                path = os.path.join(bd, "blkio.weight")
                if not os.path.exists(path):
                    path = os.path.join(bd, "blkio.bfq.weight")
                if os.path.exists(path):
                    self._try(path, str(blk["weight"]))
            for key, fname in (
                ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
                ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
                ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
                ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
            ):
                for dev in blk.get(key) or []:
                    self._try(os.path.join(bd, fname), f"{dev['major']}:{dev['minor']} {dev['rate']}")
        dd = self.v1_dir("devices")
        if dd and r.get("devices"):
            for rule in r["devices"]:
                line = _device_rule(rule)
                self._try(os.path.join(dd, "devices.allow" if rule.get("allow") else "devices.deny"), line)

    def _set_v2(self, r: dict[str, Any]) -> None:
        d = self.unified_dir
        assert d
        mem = r.get("memory") or {}
        if mem.get("limit") is not None:
            self._try(os.path.join(d, "memory.max"), "max" if mem["limit"] <= 0 else str(mem["limit"]))
            if mem.get("swap") is not None:
                swap = int(mem["swap"])
                v = "max" if swap == -1 else str(max(swap - int(mem["limit"]), 0))
                if os.path.exists(os.path.join(d, "memory.swap.max")):
                    self._try(os.path.join(d, "memory.swap.max"), v)
        if mem.get("reservation") is not None:
            self._try(os.path.join(d, "memory.low"), str(mem["reservation"]))
        if mem.get("disableOOMKiller") and os.path.exists(os.path.join(d, "memory.oom.group")):
            pass  # v2 has no per-cgroup OOM killer switch
        cpu = r.get("cpu") or {}
        if cpu.get("shares"):
            weight = 1 + ((int(cpu["shares"]) - 2) * 9999) // 262142
            self._try(os.path.join(d, "cpu.weight"), str(max(1, min(weight, 10000))))
        if cpu.get("quota") or cpu.get("period"):
            quota = cpu.get("quota")
            period = cpu.get("period") or 100000
            self._try(os.path.join(d, "cpu.max"), f"{'max' if not quota or quota < 0 else quota} {period}")
        if cpu.get("cpus"):
            self._try(os.path.join(d, "cpuset.cpus"), cpu["cpus"])
        if cpu.get("mems"):
            self._try(os.path.join(d, "cpuset.mems"), cpu["mems"])
        pids = r.get("pids") or {}
        if pids.get("limit") is not None:
            limit = int(pids["limit"])
            self._try(os.path.join(d, "pids.max"), "max" if limit <= 0 else str(limit))
        blk = r.get("blockIO") or {}
        if blk.get("weight") and os.path.exists(os.path.join(d, "io.weight")):
            self._try(os.path.join(d, "io.weight"), f"default {1 + (int(blk['weight']) - 10) * 9999 // 990}")
        for key, word in (
            ("throttleReadBpsDevice", "rbps"),
            ("throttleWriteBpsDevice", "wbps"),
            ("throttleReadIOPSDevice", "riops"),
            ("throttleWriteIOPSDevice", "wiops"),
        ):
            for dev in blk.get(key) or []:
                self._try(os.path.join(d, "io.max"), f"{dev['major']}:{dev['minor']} {word}={dev['rate']}")

    # -- statistics ---------------------------------------------------------------------------

    def read(self, controller: str, name: str) -> str | None:
        if self.v2_resources and self.unified_dir:
            path = os.path.join(self.unified_dir, name)
        else:
            d = self.v1_dir(controller)
            if d is None:
                return None
            path = os.path.join(d, name)
        try:
            return _read(path)
        except OSError:
            return None


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in _read(path).splitlines():
            parts = line.split()
            if len(parts) == 2:
                try:
                    out[parts[0]] = int(parts[1])
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def read_kv(path: str) -> dict[str, int]:
    return _kv(path)


def _device_rule(rule: dict[str, Any]) -> str:
    kind = rule.get("type") or "a"
    major = "*" if rule.get("major") in (None, -1) else str(rule["major"])
    minor = "*" if rule.get("minor") in (None, -1) else str(rule["minor"])
    if kind == "a":
        return "a"
    return f"{kind} {major}:{minor} {rule.get('access') or 'rwm'}"


_own_procs_file: list[str | None] = []


def warm_migrations() -> None:
    """Open the kernel's window for cheap cgroup migrations, so that moving a container's init
    into its cgroup a moment later is quick.

    Moving a process into a cgroup takes a global lock (``cgroup_threadgroup_rwsem``) whose
    first taker waits for an RCU grace period (~6-10 ms here); for ~15 ms after, further moves
    cost ~0.3 ms. Writing our own PID into the cgroup we are already in pays that wait now
    (the monitor does it on a thread while it mounts the root filesystem and forks the init),
    and changes nothing else. It holds ``cgroup_mutex`` while it waits, so any cgroup mkdir
    meanwhile waits too: make the directories first. Blocking; best effort; only ``os`` calls,
    so it holds no Python lock a process forked meanwhile could inherit locked.
    """
    own = own_procs_file()
    if own is None:
        return
    try:
        fd = os.open(own, os.O_WRONLY)
    except OSError:
        return
    try:
        os.write(fd, str(os.getpid()).encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def own_procs_file() -> str | None:
    """The ``cgroup.procs`` of the cgroup this process is in (found once per process tree:
    the zygote asks before it forks monitors)."""
    if not _own_procs_file:
        _own_procs_file.append(_find_own_procs_file())
    return _own_procs_file[0]


def _find_own_procs_file() -> str | None:
    lay = layout()
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if not controllers and lay.unified and not lay.v1:
                    return os.path.join(lay.unified, path.lstrip("/"), "cgroup.procs")
                for c in controllers.split(","):
                    if c in lay.v1:
                        return os.path.join(lay.v1[c], path.lstrip("/"), "cgroup.procs")
    except (OSError, ValueError):
        pass
    return None
