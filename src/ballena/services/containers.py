"""Container use cases: create, start, stop, kill, restart, remove, wait, rename, pause,
attach, logs, exec, and recovery at daemon start (live-restore).

Each running container has a monitor (see ``ballena.shim``); the daemon keeps one connection to
it (``_Live``) that brings output for attached clients and the exit event. Nothing about a running
container lives only in the daemon: after a restart the monitors are found again through their
sockets, and containers that exited meanwhile through their exit files.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import shutil
import signal as _signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ballena.core.containers import Container, ExecConfig, ExecState
from ballena.core.volumes import MountPoint
from ballena.errors import BallenaError, Conflict, InvalidArgument, NotFound, NotModified, SystemError, Unavailable
from ballena.pkg import archive, signals, trace, users
from ballena.pkg.atomicfile import read_json, write_bytes
from ballena.pkg.filters import Filters
from ballena.pkg.namesgen import random_name
from ballena.pkg.stringid import generate_id
from ballena.pkg.timeutil import now_ns
from ballena.pkg.units import from_human_size
from ballena.runtime import cgroups
from ballena.runtime import spec as ocispec
from ballena.services import resources as resources_mod
from ballena.services.events import EventBus
from ballena.services.networks import NetworkService
from ballena.services.volumes import VolumeService
from ballena.shim import protocol as proto
from ballena.shim.client import MonitorConn, Zygote
from ballena.shim.logfile import DEFAULT_MAX_FILE, DEFAULT_MAX_SIZE, log_files
from ballena.stores.containers import ContainerStore
from ballena.stores.images import ImageStore

log = logging.getLogger("ballena.containers")

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
LIST_FILTERS = frozenset(
    {
        "ancestor",
        "before",
        "expose",
        "exited",
        "health",
        "id",
        "isolation",
        "is-task",
        "label",
        "name",
        "network",
        "publish",
        "since",
        "status",
        "volume",
    }
)
PRUNE_FILTERS = frozenset({"until", "label", "label!"})
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
INIT_LAYER_FILES = {  # Docker's initlayer: mount points a container needs, absent from many images
    "dev/pts": "dir",
    "dev/shm": "dir",
    "proc": "dir",
    "sys": "dir",
    ".dockerenv": "file",
    "etc/resolv.conf": "file",
    "etc/hosts": "file",
    "etc/hostname": "file",
    "dev/console": "file",
    "etc/mtab": "/proc/mounts",
}
DEFAULT_STOP_TIMEOUT = 10


class Subscriber:
    """One attached client's view of a container's output."""

    def __init__(self, *, stdout: bool, stderr: bool) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

    def put(self, stream: int, data: bytes) -> None:
        if (stream == 1 and self.stdout) or (stream == 2 and self.stderr):
            self.queue.put_nowait((stream, data))

    def close(self) -> None:
        self.queue.put_nowait(None)


class _Live:
    """The daemon's link to one running container's monitor."""

    def __init__(self, conn: MonitorConn) -> None:
        self.conn = conn
        self.subscribers: set[Subscriber] = set()
        self.task: asyncio.Task[None] | None = None
        self.exited = asyncio.Event()

    async def send(self, obj: dict[str, Any]) -> None:
        try:
            await self.conn.send_json(obj)
        except (ConnectionError, OSError):
            pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Paths:
    data_root: Path
    exec_root: Path
    cgroup_parent: str = "/ballena"

    @property
    def containers(self) -> Path:
        return self.data_root / "containers"

    def state_dir(self, cid: str) -> Path:
        return self.exec_root / "containers" / cid

    def runc_root(self) -> Path:
        return self.exec_root / "runc"

    def cgroup(self, c: Container) -> str:
        """The container's cgroup: its HostConfig.CgroupParent or the daemon's, plus its ID."""
        parent = str(c.host_config.get("CgroupParent") or self.cgroup_parent)
        return "/" + "/".join(part for part in (*parent.split("/"), c.id) if part)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeInfo:
    name: str
    path: str
    args: tuple[str, ...] = ()


class ContainerService:
    def __init__(
        self,
        *,
        store: ContainerStore,
        images: ImageStore,
        events: EventBus,
        zygote: Zygote,
        paths: Paths,
        runtimes: Mapping[str, RuntimeInfo],
        default_runtime: str,
        dns: tuple[str, ...] = (),
        dns_search: tuple[str, ...] = (),
        dns_opts: tuple[str, ...] = (),
        log_opts: Mapping[str, str] | None = None,
        log_driver: str = "json-file",
        volumes: VolumeService | None = None,
        network: NetworkService | None = None,
    ) -> None:
        self.store = store
        self.images = images
        self.events = events
        self.zygote = zygote
        self.paths = paths
        self.runtimes = dict(runtimes)
        self.default_runtime = default_runtime
        self.dns = dns
        self.dns_search = dns_search
        self.dns_opts = dns_opts
        self.log_opts = dict(log_opts or {})
        self.log_driver = log_driver
        self.volumes = volumes
        self.network = network
        self._live: dict[str, _Live] = {}
        self._pending: dict[str, list[Subscriber]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, list[tuple[str, asyncio.Future[dict[str, Any]]]]] = {}
        self._restart_tasks: dict[str, asyncio.Task[None]] = {}
        self.execs: dict[str, ExecState] = {}
        self._available_caps: list[str] | None = None
        self.hooks_on_remove: list[Callable[[Container], None]] = []
        self.hooks_on_stop: list[Callable[[Container], None]] = []
        self.cgroup_layout = cgroups.layout()

    def _lock(self, cid: str) -> asyncio.Lock:
        lock = self._locks.get(cid)
        if lock is None:
            lock = self._locks[cid] = asyncio.Lock()
        return lock

    def _event(self, c: Container, action: str, **extra: str) -> None:
        attrs = {"image": c.image, "name": c.name}
        attrs.update({k: v for k, v in c.labels.items()})
        attrs.update(extra)
        self.events.publish("container", action, c.id, attrs)

    # -- queries --------------------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        return self.store.resolve(ref)

    def users_of(self, image_id: str) -> list[tuple[str, bool]]:
        return [(c.id, c.state.running) for c in self.store.all() if c.image_id == image_id]

    def users_of_volume(self, name: str) -> list[str]:
        return [c.id for c in self.store.all() if any(m.get("Name") == name for m in c.mounts)]

    def mount_points(self, ref: str) -> list[MountPoint]:
        return [MountPoint.from_wire(m) for m in self.get(ref).mounts]

    def counts(self) -> dict[str, int]:
        out = {"total": 0, "running": 0, "paused": 0, "stopped": 0}
        for c in self.store.all():
            out["total"] += 1
            if c.state.status == "paused":
                out["paused"] += 1
            elif c.state.running:
                out["running"] += 1
            else:
                out["stopped"] += 1
        return out

    def list_containers(self, *, all_: bool, limit: int, filters: Filters, latest: bool = False) -> list[Container]:
        items = sorted(self.store.all(), key=lambda c: c.created_ns, reverse=True)
        before = since = None
        if "before" in filters:
            before = min(self.get(v).created_ns for v in filters.get("before"))
        if "since" in filters:
            since = max(self.get(v).created_ns for v in filters.get("since"))
        for s in filters.get("status"):
            if s not in STATUSES:
                raise InvalidArgument(f"invalid filter 'status={s}'")
        out = []
        for c in items:
            if (
                not all_
                and not c.state.running
                and not filters.get("status")
                and limit <= 0
                and not latest
                and "exited" not in filters
            ):
                continue
            if before is not None and c.created_ns >= before:
                continue
            if since is not None and c.created_ns <= since:
                continue
            if not _match_filters(c, filters, self.images):
                continue
            out.append(c)
        if latest:
            out = out[:1]
        if limit > 0:
            out = out[:limit]
        return out

    # -- create ---------------------------------------------------------------------------------

    async def create(
        self,
        *,
        name: str | None,
        config: dict[str, Any],
        host_config: dict[str, Any],
        networking: dict[str, Any] | None = None,
    ) -> tuple[Container, list[str]]:
        warnings: list[str] = []
        image_ref = config.get("Image") or ""
        if not image_ref:
            raise InvalidArgument("No image was specified")
        if name:
            if not NAME_RE.match(name):
                raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
            name = name.lstrip("/")
        image_id = self.images.resolve(image_ref)
        image = self.images.get(image_id)
        hc = _normalize_host_config(host_config, self.runtimes, self.default_runtime)
        warnings += resources_mod.validate(hc)
        if hc.get("Memory") and not hc.get("MemorySwap"):
            hc["MemorySwap"] = int(hc["Memory"]) * 2  # dockerd's default: as much swap as memory
        cfg = _merge_image_config(dict(config), dict(image.run_config))
        entrypoint = cfg.get("Entrypoint") or []
        cmd = cfg.get("Cmd") or []
        if not entrypoint and not cmd:
            raise InvalidArgument("no command specified")
        path, args = (entrypoint[0], [*entrypoint[1:], *cmd]) if entrypoint else (cmd[0], list(cmd[1:]))
        cid = generate_id()
        if not name:
            name = random_name()
            attempt = 0
            while self.store.name_taken(name):
                attempt += 1
                name = random_name(attempt)
        self.store.reserve_name(name, cid)
        try:
            net_mode = hc.get("NetworkMode") or "bridge"
            endpoints: dict[str, Any] = {}
            if self.network is not None:
                endpoints = self.network.initial_endpoints(hc, networking or {})
            elif net_mode not in ("none", "host") and not net_mode.startswith("container:"):
                endpoints = {net_mode: {}}
            if not cfg.get("Hostname"):
                cfg["Hostname"] = socket.gethostname() if net_mode == "host" else cid[:12]
            if net_mode.startswith("container:"):
                self.get(net_mode.split(":", 1)[1])
            mounts: list[MountPoint] = []
            if self.volumes is not None:
                mounts = await asyncio.to_thread(
                    self.volumes.resolve_mounts, config=cfg, host_config=hc, volumes_from=self.mount_points
                )
            c = Container(
                id=cid,
                name=name,
                created_ns=now_ns(),
                image=image_ref,
                image_id=image_id,
                path=path,
                args=tuple(args),
                config=cfg,
                host_config=hc,
                runtime=hc.get("Runtime") or self.default_runtime,
                networks=endpoints,
                mounts=tuple(
                    {**m.to_wire(), "_Tmpfs": dict(m.tmpfs_options), "_Copy": m.copy_image_data} for m in mounts
                ),
            )
            await asyncio.to_thread(self._prepare_filesystem, c, image.top_layer)
            self.store.save(c)
        except BaseException:
            self.store.release_name(name)
            d = self.store.dir(cid)
            if d.exists():
                shutil.rmtree(d, ignore_errors=True)
            if self.images.snapshots.exists(cid):
                self.images.snapshots.remove(cid)
            raise
        self._event(c, "create")
        return c, warnings

    def _prepare_filesystem(self, c: Container, top_layer: str | None) -> None:
        parent = self._init_layer(top_layer)
        self.images.snapshots.prepare(c.id, parent)
        d = self.store.dir(c.id)
        d.mkdir(parents=True, exist_ok=True)

    def _init_layer(self, top: str | None) -> str:
        """The layer of empty mount points shared by all containers of an image (Docker's
        ``-init`` layer, made once per image instead of once per container)."""
        key = ImageStore.INIT_PREFIX + (top or "scratch")
        if self.images.snapshots.exists(key):
            return key
        tmp = f"init-tmp/{generate_id()[:16]}"
        self.images.snapshots.prepare(tmp, top)
        try:
            upper = self.images.snapshots.upper_dir(tmp)
            lowers = [str(p) for p in self.images.snapshots.lower_dirs(tmp)]
            for rel, kind in INIT_LAYER_FILES.items():
                existing = archive.lookup_in_layers(lowers, rel)
                path = upper / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                if kind == "dir":
                    if existing is None or not os.path.isdir(existing):
                        path.mkdir(0o755, exist_ok=True)
                elif kind == "file":
                    if existing is None or not os.path.isfile(existing):
                        path.touch(0o755)
                else:  # a symlink, made whatever the image has there (as Docker's init layer does)
                    if path.exists() or path.is_symlink():
                        path.unlink()
                    os.symlink(kind, path)
            try:
                self.images.snapshots.commit(key, tmp)
            except Conflict:
                self.images.snapshots.remove(tmp)
        except BaseException:
            if self.images.snapshots.exists(tmp):
                self.images.snapshots.remove(tmp)
            raise
        return key

    # -- start ----------------------------------------------------------------------------------

    async def start(self, ref: str) -> Container:
        c = self.get(ref)
        async with self._lock(c.id):
            c = self.store.get(c.id)
            if c.state.status == "paused":
                raise Conflict("cannot start a paused container, try unpause instead")
            if c.state.running:
                raise NotModified("container already started")
            if c.state.status in ("removing", "dead"):
                raise Conflict("container is marked for removal and cannot be started")
            c = replace(c, manually_stopped=False)
            return await self._start_locked(c)

    async def _start_locked(self, c: Container) -> Container:
        trace.mark("daemon: start")
        # Not awaited: it only has to be done before the monitor (or runc) moves the init.
        cgroup_path = self.paths.cgroup(c)
        prepared = asyncio.get_running_loop().run_in_executor(None, cgroups.prepare, cgroup_path)
        subscribers = self._pending.pop(c.id, [])
        wire = self.network is not None and self.network.needs_setup(c)
        try:
            if self.network is not None and c.networks:
                await self.network.ready()
                c = replace(c, networks=self.network.plan(c))
                c = replace(c, ports=self.network.reserve_ports(c))
            spec, monitor_cfg = await asyncio.to_thread(self._prepare_start, c, subscribers)
            monitor_cfg["autostart"] = not wire
            trace.mark("daemon: bundle written")
            pid, conn = await self.zygote.spawn(monitor_cfg)
        except BallenaError as e:
            if self.network is not None:
                await self.network.release(c)
            await prepared  # no monitor came to remove the cgroup made for it: we do
            await asyncio.to_thread(cgroups.Cgroup(cgroup_path).remove)
            self._fail_start(c, e.message, subscribers)
            raise
        live = _Live(conn)
        live.subscribers.update(subscribers)
        msg = await conn.next_json()
        if msg is not None and msg.get("event") == "created" and self.network is not None:
            trace.mark("daemon: attaching network")
            try:
                await self.network.attach(c, int(msg["pid"]))
            except BaseException as e:
                await live.send({"op": "cancel"})
                await conn.next_json()
                conn.close()
                await self.network.release(c)
                message = e.message if isinstance(e, BallenaError) else f"network setup failed: {e}"
                self._fail_start(c, message, subscribers)
                if isinstance(e, BallenaError):
                    raise
                raise SystemError(message) from e
            trace.mark("daemon: network attached")
            await live.send({"op": "start"})
            msg = await conn.next_json()
        if msg is None or msg.get("event") == "error":
            if self.network is not None:
                await self.network.release(c)
            conn.close()
            message = (msg or {}).get("message") or "container monitor exited during start"
            code = _start_exit_code(message)
            self._fail_start(c, message, subscribers, code=code)
            if code in (126, 127):
                raise InvalidArgument(message)
            raise SystemError(message)
        c = replace(c, has_been_started=True).with_state(
            status="running",
            pid=int(msg.get("pid", 0)),
            exit_code=0,
            error="",
            oom_killed=False,
            started_at_ns=now_ns(),
            finished_at_ns=0,
        )
        trace.mark("daemon: monitor says running")
        self.store.save(c, durable=False)
        self._live[c.id] = live
        live.task = asyncio.ensure_future(self._follow(c.id, live))
        self._event(c, "start")
        trace.mark("daemon: started")
        return c

    def _fail_start(self, c: Container, message: str, subscribers: list[Subscriber], *, code: int = 128) -> None:
        c = c.with_state(status="created" if not c.has_been_started else "exited", error=message, exit_code=code, pid=0)
        self.store.save(c)
        for s in subscribers:
            s.close()
        self._cleanup_state_dir(c.id)
        if c.host_config.get("AutoRemove"):
            # As moby: a container that was to be removed on exit is removed when it cannot start.
            asyncio.ensure_future(self._remove_quietly(c.id))
        else:
            self._notify_waiters(c, {"StatusCode": code, "Error": None}, exited=False)

    async def _remove_quietly(self, cid: str) -> None:
        try:
            await self.remove(cid, force=True, volumes=True)
        except BallenaError:
            pass

    def _prepare_start(self, c: Container, subscribers: list[Subscriber]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Blocking: resolve the user, write the container's files and the OCI bundle."""
        state_dir = self.paths.state_dir(c.id)
        state_dir.mkdir(parents=True, exist_ok=True)
        bundle = state_dir
        (bundle / "rootfs").mkdir(exist_ok=True)
        cdir = self.store.dir(c.id)
        for name in ("exit.json",):
            try:
                (cdir / name).unlink()
            except FileNotFoundError:
                pass
        spec = self._build_spec(c, bundle)
        write_bytes(bundle / "config.json", json.dumps(spec).encode(), mode=0o600, durable=False)
        mounts = self.images.snapshots.mounts(c.id)
        runtime = self._runtime(c)
        want_out = any(s.stdout for s in subscribers)
        want_err = any(s.stderr for s in subscribers)
        log_cfg = self._log_config(c)
        monitor_cfg = {
            "id": c.id,
            "bundle": str(bundle),
            "state_dir": str(state_dir),
            "runtime": runtime,
            "rootfs_mounts": [{"type": m.type, "source": m.source, "options": list(m.options)} for m in mounts],
            "tty": c.tty,
            "open_stdin": bool(c.config.get("OpenStdin")),
            "log": log_cfg,
            "cgroup_path": self.paths.cgroup(c),
            "attach": {
                "stdout": want_out or bool(subscribers),
                "stderr": want_err or bool(subscribers),
                "stdin": bool(c.config.get("OpenStdin")),
            },
            "exit_file": str(cdir / "exit.json"),
            "console_size": list(c.host_config.get("ConsoleSize") or []) or None,
        }
        if runtime["name"] == "native":
            lx = spec.get("linux") or {}
            section = lx.get("seccomp")
            if section:
                from ballena.runtime import seccomp

                monitor_cfg["seccomp_bpf"] = base64.b64encode(seccomp.compiled(section)).decode()
            monitor_cfg["spec"] = {**spec, "linux": {k: v for k, v in lx.items() if k != "seccomp"}}
        if monitor_cfg["console_size"] in ([0, 0], None):
            monitor_cfg["console_size"] = None
        return spec, monitor_cfg

    def _runtime(self, c: Container) -> dict[str, Any]:
        info = self.runtimes.get(c.runtime)
        if info is None:
            raise InvalidArgument(f"Unknown runtime specified {c.runtime}")
        if info.path == "native":
            return {"name": "native"}
        return {"name": info.name, "path": info.path, "args": list(info.args), "root": str(self.paths.runc_root())}

    def _log_config(self, c: Container) -> dict[str, Any] | None:
        lc = c.host_config.get("LogConfig") or {}
        driver = lc.get("Type") or self.log_driver
        if driver == "none":
            return None
        if driver not in ("json-file", "local"):
            raise InvalidArgument(f"logger: no log driver named '{driver}' is registered")
        opts = {**self.log_opts, **(lc.get("Config") or {})}
        max_size = from_human_size(opts["max-size"]) if opts.get("max-size") else DEFAULT_MAX_SIZE
        if opts.get("max-size") == "-1":
            max_size = 0
        max_file = int(opts.get("max-file") or DEFAULT_MAX_FILE)
        if max_file < 1:
            raise InvalidArgument("max-file cannot be less than 1")
        return {"path": str(self.log_path(c.id)), "max_size": max_size, "max_file": max_file}

    def log_path(self, cid: str) -> Path:
        return self.store.dir(cid) / f"{cid}-json.log"

    def _layer_dirs(self, c: Container) -> list[str]:
        upper = self.images.snapshots.upper_dir(c.id)
        return [str(upper)] + [str(p) for p in self.images.snapshots.lower_dirs(c.id)]

    def _read_in_container(self, c: Container, rel: str) -> str | None:
        if c.state.running and c.state.pid:
            path = f"/proc/{c.state.pid}/root/{rel}"
            try:
                with open(path, errors="replace") as f:
                    return f.read()
            except OSError:
                pass
        found = archive.lookup_in_layers(self._layer_dirs(c), rel)
        if found is None:
            return None
        try:
            with open(found, errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def resolve_user(self, c: Container, user: str) -> users.ExecUser:
        passwd = self._read_in_container(c, "etc/passwd")
        group = self._read_in_container(c, "etc/group")
        extra = tuple(str(g) for g in c.host_config.get("GroupAdd") or ())
        return users.resolve(user, passwd, group, additional=extra)

    def _available(self) -> list[str]:
        """The capabilities this daemon holds: what ``ALL`` and ``--privileged`` grant."""
        if self._available_caps is None:
            from ballena.pkg import linux

            _eff, perm, _inh = linux.capget()
            self._available_caps = [
                n for n, bit in ocispec.CAPABILITIES.items() if bit <= linux.last_cap() and perm & (1 << bit)
            ]
        return self._available_caps

    def _build_spec(self, c: Container, bundle: Path) -> dict[str, Any]:
        cfg, hc = c.config, c.host_config
        cdir = self.store.dir(c.id)
        u = self.resolve_user(c, cfg.get("User") or "")
        tty = bool(cfg.get("Tty"))
        hostname = cfg.get("Hostname") or c.id[:12]
        env = ocispec.merge_env(
            [f"PATH={ocispec.DEFAULT_PATH}", f"HOSTNAME={hostname}", *(["TERM=xterm"] if tty else [])],
            list(cfg.get("Env") or []),
        )
        if not any(e.startswith("HOME=") for e in env):
            env.append(f"HOME={u.home}")
        try:
            caps = ocispec.capabilities(
                cap_add=hc.get("CapAdd") or [],
                cap_drop=hc.get("CapDrop") or [],
                privileged=bool(hc.get("Privileged")),
                available=self._available(),
            )
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
        caps = [x for x in caps if x in self._available()]
        args = [c.path, *c.args]
        mounts: list[dict[str, Any]] = []
        net_mode = hc.get("NetworkMode") or "default"
        namespaces: dict[str, str | None] = {"pid": None, "ipc": None, "uts": None, "mount": None, "network": None}
        if net_mode == "host":
            del namespaces["network"]
        elif net_mode.startswith("container:"):
            other = self.get(net_mode.split(":", 1)[1])
            if not other.state.running:
                raise Conflict(
                    f"cannot join network namespace of a non running container: container {other.id} is "
                    f"{other.state.status}"
                )
            namespaces["network"] = f"/proc/{other.state.pid}/ns/net"
        pid_mode = hc.get("PidMode") or ""
        if pid_mode == "host":
            del namespaces["pid"]
        elif pid_mode.startswith("container:"):
            other = self.get(pid_mode.split(":", 1)[1])
            if not other.state.running:
                raise Conflict(f"cannot join PID namespace of a non running container: {other.id}")
            namespaces["pid"] = f"/proc/{other.state.pid}/ns/pid"
        ipc_mode = hc.get("IpcMode") or "private"
        if ipc_mode == "host":
            del namespaces["ipc"]
        elif ipc_mode.startswith("container:"):
            other = self.get(ipc_mode.split(":", 1)[1])
            namespaces["ipc"] = f"/proc/{other.state.pid}/ns/ipc"
        if (hc.get("UTSMode") or "") == "host":
            del namespaces["uts"]
        _check_sysctls(hc.get("Sysctls") or {}, namespaces)
        if self.cgroup_layout.version == "2" and (hc.get("CgroupnsMode") or "private") == "private":
            namespaces["cgroup"] = None
        # The files every container gets, bind-mounted like Docker's.
        self._write_etc_files(c, cdir, net_mode, hostname)
        ro = ["ro"] if hc.get("ReadonlyRootfs") else []
        for dest, fname in (
            ("/etc/resolv.conf", "resolv.conf"),
            ("/etc/hostname", "hostname"),
            ("/etc/hosts", "hosts"),
        ):
            mounts.append(
                {
                    "destination": dest,
                    "type": "bind",
                    "source": str(cdir / fname),
                    "options": ["rbind", "rprivate", *ro],
                }
            )
        if ipc_mode == "host":  # the host's IPC namespace comes with the host's POSIX shm
            mounts.append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind"]})
        if self.volumes is not None:
            points = [MountPoint.from_wire(m) for m in c.mounts]
            self._fill_new_volumes(c, points)
            mounts += self.volumes.oci_mounts(points)
        for path, opts in (hc.get("Tmpfs") or {}).items():
            extra = [o for o in (opts.split(",") if opts else []) if o]
            mounts.append(
                {
                    "destination": path,
                    "type": "tmpfs",
                    "source": "tmpfs",
                    "options": ["nosuid", "nodev", "noexec", *extra]
                    if not any(o in ("exec",) for o in extra)
                    else ["nosuid", "nodev", *extra],
                }
            )
        if hc.get("Init"):
            init = shutil.which("tini-static") or shutil.which("tini")
            if init is None:
                raise InvalidArgument("--init needs tini on the host (apt-get install tini)")
            mounts.append(
                {"destination": "/sbin/docker-init", "type": "bind", "source": init, "options": ["bind", "ro"]}
            )
            args = ["/sbin/docker-init", "--", *args]
        resources = resources_mod.oci(hc)
        rlimits = tuple(
            (f"RLIMIT_{u_['Name'].upper()}", int(u_["Soft"]), int(u_["Hard"])) for u_ in hc.get("Ulimits") or []
        )
        security = hc.get("SecurityOpt") or []
        nnp = any(o in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true") for o in security)
        devices, device_rules = _devices(hc)
        inp = ocispec.SpecInput(
            process=ocispec.ProcessSpec(
                args=tuple(args),
                env=tuple(env),
                cwd=cfg.get("WorkingDir") or "/",
                uid=u.uid,
                gid=u.gid,
                additional_gids=u.sgids,
                terminal=tty,
                capabilities=tuple(caps),
                no_new_privileges=nnp,
                rlimits=rlimits,
                oom_score_adj=hc.get("OomScoreAdj") or None,
                console_size=tuple(hc["ConsoleSize"]) if hc.get("ConsoleSize") and any(hc["ConsoleSize"]) else None,
            ),
            rootfs=str(bundle / "rootfs"),
            readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
            hostname=hostname,
            domainname=cfg.get("Domainname") or "",
            mounts=tuple(mounts),
            shm_size=int(hc.get("ShmSize") or 64 << 20),
            namespaces=namespaces,
            privileged=bool(hc.get("Privileged")),
            devices=tuple(devices),
            device_rules=tuple(device_rules),
            resources=resources,
            cgroups_path=self.paths.cgroup(c),
            sysctl=hc.get("Sysctls") or {},
            seccomp=self.seccomp_for(c, caps),
            masked_paths=tuple(hc["MaskedPaths"]) if hc.get("MaskedPaths") is not None else None,
            readonly_paths=tuple(hc["ReadonlyPaths"]) if hc.get("ReadonlyPaths") is not None else None,
            cgroup_v2=self.cgroup_layout.version == "2",
        )
        return ocispec.build(inp)

    def _fill_new_volumes(self, c: Container, points: list[MountPoint]) -> None:
        """A new, empty volume is first filled with what the image has at that path (Docker's
        copy-up), owners and modes kept."""
        assert self.volumes is not None
        for mp in points:
            if mp.type != "volume" or not mp.copy_image_data:
                continue
            data = self.volumes.store.data_dir(mp.name)
            try:
                if any(data.iterdir()):
                    continue
            except FileNotFoundError:
                continue
            archive.copy_from_layers(self._layer_dirs(c), mp.destination, str(data))

    def seccomp_for(self, c: Container, caps: list[str]) -> dict[str, Any] | None:
        """The spec's seccomp section: Docker's default effect, a profile the client sent
        (``--security-opt seccomp=<json>``; the CLI reads the file), or none (``unconfined``,
        ``--privileged``)."""
        from ballena.runtime import seccomp

        if c.host_config.get("Privileged"):
            return None
        profile: dict[str, Any] = seccomp.default_profile()
        for opt in c.host_config.get("SecurityOpt") or []:
            key, sep, value = opt.partition("=")
            if not sep:
                key, _, value = opt.partition(":")
            if key != "seccomp":
                continue
            if value == "unconfined":
                return None
            if value in ("builtin", ""):
                continue
            try:
                profile = json.loads(value)
            except ValueError:
                raise InvalidArgument(
                    "Decoding seccomp profile failed: invalid JSON (give the profile's "
                    "content, as the docker CLI does with a file name)"
                ) from None
        return seccomp.resolve(profile, caps)

    def _write_etc_files(self, c: Container, cdir: Path, net_mode: str, hostname: str) -> None:
        domain = c.config.get("Domainname") or ""
        fqdn = f"{hostname}.{domain}" if domain else hostname
        write_bytes(cdir / "hostname", f"{hostname}\n".encode(), durable=False)
        if net_mode == "host":
            try:
                hosts = Path("/etc/hosts").read_text()
            except OSError:
                hosts = "127.0.0.1\tlocalhost\n"
        else:
            hosts = (
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            )
            ip = self.container_ip(c)
            if ip:
                hosts += f"{ip}\t{fqdn}" + (f" {hostname}" if fqdn != hostname else "") + "\n"
        for entry in c.host_config.get("ExtraHosts") or []:
            sep = "=" if "=" in entry else ":"
            host, _, addr = entry.partition(sep)
            if addr == "host-gateway":
                addr = self.network.host_gateway() if self.network is not None else ""
            if addr:
                hosts += f"{addr}\t{host}\n"
        if self.network is not None:
            hosts += self.network.hosts_entries(c)
        write_bytes(cdir / "hosts", hosts.encode(), durable=False)
        write_bytes(cdir / "resolv.conf", self.resolv_conf(c, net_mode).encode(), durable=False)

    def container_ip(self, c: Container) -> str:
        for ep in c.networks.values():
            if ep.get("IPAddress"):
                return str(ep["IPAddress"])
        return ""

    def resolv_conf(self, c: Container, net_mode: str) -> str:
        hc = c.host_config
        if self.network is not None:
            text = self.network.resolv_conf(c)
            if text is not None:
                return text
        try:
            host = Path("/etc/resolv.conf").read_text()
        except OSError:
            host = ""
        servers = list(hc.get("Dns") or []) or list(self.dns)
        search = list(hc.get("DnsSearch") or []) or list(self.dns_search)
        options = list(hc.get("DnsOptions") or []) or list(self.dns_opts)
        host_servers = [
            line.split()[1] for line in host.splitlines() if line.startswith("nameserver") and len(line.split()) > 1
        ]
        if not servers:
            servers = (
                host_servers
                if net_mode == "host"
                else [s for s in host_servers if not s.startswith("127.") and s != "::1"]
            )
            if not servers and net_mode != "host":
                servers = ["8.8.8.8", "8.8.4.4"]
        if not search:
            search = [w for line in host.splitlines() if line.startswith("search") for w in line.split()[1:]]
        if not options:
            options = [w for line in host.splitlines() if line.startswith("options") for w in line.split()[1:]]
        lines = [f"nameserver {s}" for s in servers]
        if search:
            lines.append("search " + " ".join(search))
        if options:
            lines.append("options " + " ".join(options))
        return "\n".join(lines) + "\n"

    # -- following a running container ------------------------------------------------------

    async def _follow(self, cid: str, live: _Live) -> None:
        """Read the monitor's frames until the container exits (or the monitor vanishes)."""
        exit_info: dict[str, Any] | None = None
        while True:
            frame = await live.conn.next_frame()
            if frame is None:
                break
            kind, payload = frame
            if kind == proto.JSON:
                msg = json.loads(payload)
                if msg.get("event") == "exit":
                    exit_info = msg
            else:
                stream = 2 if kind == proto.STDERR else 1
                for s in list(live.subscribers):
                    s.put(stream, payload)
        live.conn.close()
        for s in list(live.subscribers):
            s.close()
        live.subscribers.clear()
        if self._live.get(cid) is live:
            del self._live[cid]
        if exit_info is None:
            exit_info = self._read_exit_file(cid) or {
                "exit_code": 255,
                "oom_killed": False,
                "finished_at": now_ns(),
                "lost": True,
            }
        live.exited.set()
        await self._on_exit(cid, exit_info)

    def _read_exit_file(self, cid: str) -> dict[str, Any] | None:
        try:
            data = read_json(self.store.dir(cid) / "exit.json")
            return data if isinstance(data, dict) else None
        except (OSError, ValueError):
            return None

    async def _on_exit(self, cid: str, info: dict[str, Any]) -> None:
        try:
            c = self.store.get(cid)
        except NotFound:
            return
        code = int(info.get("exit_code", 255))
        oom = bool(info.get("oom_killed"))
        c = c.with_state(
            status="exited",
            pid=0,
            exit_code=code,
            oom_killed=oom,
            finished_at_ns=int(info.get("finished_at") or now_ns()),
            error="monitor lost" if info.get("lost") else "",
        )
        if self.network is not None:
            await self.network.release(c)
            c = replace(
                c,
                ports={},
                networks={
                    name: {k: v for k, v in ep.items() if k in ("IPAMConfig", "Links", "Aliases", "NetworkID")}
                    for name, ep in c.networks.items()
                },
            )
        self.store.save(c, durable=False)
        self._cleanup_state_dir(cid)
        if self.volumes is not None:
            for m in c.mounts:
                if m.get("Type") == "volume" and m.get("Name"):
                    self.volumes.unmount(str(m["Name"]))
        for hook in self.hooks_on_stop:
            try:
                hook(c)
            except Exception:
                log.exception("stop hook failed for %s", cid)
        if oom:
            self._event(c, "oom")
        self._event(c, "die", exitCode=str(code))
        self._notify_waiters(c, {"StatusCode": code, "Error": None}, exited=True)
        if c.host_config.get("AutoRemove"):
            try:
                await self.remove(cid, force=True, volumes=True)
            except NotFound:
                pass
            return
        if self._should_restart(c):
            self._schedule_restart(c)

    def _cleanup_state_dir(self, cid: str) -> None:
        d = self.paths.state_dir(cid)
        rootfs = d / "rootfs"
        if _is_mountpoint(rootfs):
            return  # a monitor still owns it
        self._discard(self._rename_state_dir(cid))

    # -- restart policies ---------------------------------------------------------------------

    def _should_restart(self, c: Container) -> bool:
        policy = c.host_config.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if c.manually_stopped or name in ("no", ""):
            return False
        if name == "on-failure":
            if c.state.exit_code == 0:
                return False
            limit = int(policy.get("MaximumRetryCount") or 0)
            return limit == 0 or c.restart_count < limit
        return name in ("always", "unless-stopped")

    def _schedule_restart(self, c: Container) -> None:
        ran = (c.state.finished_at_ns - c.state.started_at_ns) / 1e9 if c.state.started_at_ns else 0
        # Docker's back-off: 100 ms doubling each time up to a minute; a run of 10 s resets it.
        count = 0 if ran >= 10 else c.restart_count
        delay = min(0.1 * (2**count), 60.0)
        c = replace(c, restart_count=c.restart_count + 1).with_state(status="restarting")
        self.store.save(c)

        async def later() -> None:
            await asyncio.sleep(delay)
            try:
                cur = self.store.get(c.id)
            except NotFound:
                return
            if cur.state.status != "restarting" or cur.manually_stopped:
                return
            async with self._lock(c.id):
                cur = self.store.get(c.id)
                if cur.state.status != "restarting":
                    return
                try:
                    await self._start_locked(cur)
                    self._event(cur, "restart")
                except BallenaError as e:
                    log.warning("restarting %s failed: %s", cur.name, e.message)
            self._restart_tasks.pop(c.id, None)

        self._restart_tasks[c.id] = asyncio.ensure_future(later())

    # -- stop, kill, restart ----------------------------------------------------------------

    def _stop_signal(self, c: Container, override: str | None) -> int:
        raw = override or c.config.get("StopSignal") or "SIGTERM"
        return signals.parse(raw)

    async def stop(self, ref: str, *, timeout: int | None = None, signal_name: str | None = None) -> None:
        c = self.get(ref)
        if c.state.status == "restarting":
            self._cancel_restart(c)
            return
        if not c.state.running:
            raise NotModified("container already stopped")
        sig = self._stop_signal(c, signal_name)
        if timeout is None:
            timeout = c.config.get("StopTimeout")
            if timeout is None:
                timeout = DEFAULT_STOP_TIMEOUT
        c = replace(c, manually_stopped=True)
        self.store.save(c)
        await self._stop_process(c, sig, timeout)
        self._event(self.store.get(c.id), "stop")

    async def _stop_process(self, c: Container, sig: int, timeout: int) -> None:
        live = self._live.get(c.id)
        if live is None:
            return
        if c.state.status == "paused":
            self._thaw(c)
        if sig != _signal.SIGKILL and timeout != 0:
            self._event(c, "kill", signal=str(sig))
            await live.send({"op": "kill", "signal": sig})
            try:
                await asyncio.wait_for(live.exited.wait(), timeout if timeout > 0 else None)
                await self._wait_exit_processed(c.id)
                return
            except TimeoutError:
                log.info("container %s did not stop within %ss after signal %d: killing it", c.short_id, timeout, sig)
        self._event(c, "kill", signal=str(int(_signal.SIGKILL)))
        await live.send({"op": "kill", "signal": int(_signal.SIGKILL), "all": True})
        await live.exited.wait()
        await self._wait_exit_processed(c.id)

    async def _wait_exit_processed(self, cid: str) -> None:
        for _ in range(1000):
            try:
                if self.store.get(cid).state.status != "running":
                    return
            except NotFound:
                return
            await asyncio.sleep(0.002)

    def _cancel_restart(self, c: Container) -> None:
        task = self._restart_tasks.pop(c.id, None)
        if task is not None:
            task.cancel()
        c = replace(c, manually_stopped=True).with_state(status="exited")
        self.store.save(c)

    async def kill(self, ref: str, signal_name: str | None = None) -> None:
        c = self.get(ref)
        sig = signals.parse(signal_name) if signal_name else int(_signal.SIGKILL)
        if not c.state.running or c.state.status == "restarting":
            raise Conflict(f"cannot kill container: {ref}: container {c.id} is not running")
        live = self._live.get(c.id)
        if live is None:
            raise Conflict(f"cannot kill container: {ref}: container {c.id} is not running")
        if sig == _signal.SIGKILL:
            c = replace(c, manually_stopped=True)
            self.store.save(c)
        self._event(c, "kill", signal=str(sig))
        if c.state.status == "paused" and sig == _signal.SIGKILL:
            self._thaw(c)
        await live.send({"op": "kill", "signal": sig, "all": sig == _signal.SIGKILL})
        if sig == _signal.SIGKILL:
            await live.exited.wait()
            await self._wait_exit_processed(c.id)

    async def restart(self, ref: str, *, timeout: int | None = None, signal_name: str | None = None) -> None:
        c = self.get(ref)
        async with self._lock(c.id):
            c = self.store.get(c.id)
            if c.state.running and c.state.status != "restarting":
                sig = self._stop_signal(c, signal_name)
                t = timeout if timeout is not None else (c.config.get("StopTimeout") or DEFAULT_STOP_TIMEOUT)
                await self._stop_process(c, sig, t)
            elif c.state.status == "restarting":
                task = self._restart_tasks.pop(c.id, None)
                if task is not None:
                    task.cancel()
            c = replace(self.store.get(c.id), manually_stopped=False)
            await self._start_locked(c)
        self._event(self.store.get(c.id), "restart")

    # -- remove ---------------------------------------------------------------------------------

    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        if c.state.status == "removing":
            raise Conflict(f"removal of container {c.id} is already in progress")
        if c.state.running and c.state.status != "restarting":
            if not force:
                if c.state.status == "paused":
                    raise Conflict(
                        f'cannot remove container "/{c.name}": container is paused and must be unpaused first'
                    )
                raise Conflict(
                    f'cannot remove container "/{c.name}": container is running: stop the container '
                    "before removing or force remove"
                )
            await self._stop_process(replace(c, manually_stopped=True), int(_signal.SIGKILL), 0)
        self._cancel_restart_task(c.id)
        c = self.store.get(c.id)
        self.store.update(c.with_state(status="removing"))
        try:
            trash = await asyncio.to_thread(self._remove_files, c, volumes)
        except BaseException:
            self.store.update(c)
            raise
        for s in self._pending.pop(c.id, []):
            s.close()
        for eid in list(c.exec_ids):
            self.execs.pop(eid, None)
        for eid, ex in list(self.execs.items()):
            if ex.config.container_id == c.id:
                del self.execs[eid]
        self._locks.pop(c.id, None)
        self._event(c, "destroy")
        self._notify_waiters(c, {"StatusCode": c.state.exit_code, "Error": None}, exited=True, removed=True)
        self._discard(trash)

    def _discard(self, trash: list[Path]) -> None:
        """Delete renamed-away directories on a thread, after the client has its answer: the
        container is gone once they are renamed (a restart deletes leftovers)."""
        if trash:
            asyncio.get_running_loop().run_in_executor(None, _rmtree_all, trash)

    def _cancel_restart_task(self, cid: str) -> None:
        task = self._restart_tasks.pop(cid, None)
        if task is not None:
            task.cancel()

    def _remove_files(self, c: Container, volumes: bool) -> list[Path]:
        """Remove what the container owns; returns renamed-away directories still to delete."""
        trash: list[Path] = []
        for hook in self.hooks_on_remove:
            hook(c)
        rootfs = self.paths.state_dir(c.id) / "rootfs"
        if _is_mountpoint(rootfs):
            from ballena.pkg import linux

            try:
                linux.umount(str(rootfs), linux.MNT_DETACH)
            except OSError:
                pass
        trash += self._rename_state_dir(c.id)
        if self.images.snapshots.exists(c.id):
            trash += filter(None, [self.images.snapshots.remove(c.id, defer=True)])
        cg = cgroups.Cgroup(self.paths.cgroup(c))
        if cg.exists():
            cg.remove(timeout=0.5)
        trash += filter(None, [self.store.delete(c.id, defer=True)])
        if self.volumes is not None and (volumes or c.host_config.get("AutoRemove")):
            # Only the anonymous volumes this container made; named ones outlive it.
            for m in c.mounts:
                name = m.get("Name")
                if m.get("Type") != "volume" or not name:
                    continue
                try:
                    v = self.volumes.get(str(name))
                except NotFound:
                    continue
                if v.anonymous and not self.users_of_volume(v.name):
                    try:
                        self.volumes.remove(v.name)
                    except Conflict:
                        pass
        return trash

    def _rename_state_dir(self, cid: str) -> list[Path]:
        """Move the container's runtime directory out of the way (to delete later)."""
        d = self.paths.state_dir(cid)
        trash = d.with_name(f".removing-{cid}-{os.urandom(4).hex()}")
        try:
            os.replace(d, trash)
        except FileNotFoundError:
            return []
        except OSError:
            shutil.rmtree(d, ignore_errors=True)
            return []
        return [trash]

    # -- wait -----------------------------------------------------------------------------------

    def register_wait(self, ref: str, condition: str = "not-running") -> asyncio.Future[dict[str, Any]]:
        """A future for the wait condition, registered now (the docker CLI starts the container as
        soon as the wait request is answered, so registration must precede the answer)."""
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise InvalidArgument(f'invalid condition: "{condition}"')
        c = self.get(ref)
        condition = condition or "not-running"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not c.state.running:
            fut.set_result({"StatusCode": c.state.exit_code, "Error": None})
            return fut
        self._waiters.setdefault(c.id, []).append((condition, fut))
        return fut

    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        return await self.register_wait(ref, condition)

    def _notify_waiters(self, c: Container, result: dict[str, Any], *, exited: bool, removed: bool = False) -> None:
        keep = []
        for cond, fut in self._waiters.pop(c.id, []):
            if fut.done():
                continue
            if cond == "removed" and not removed:
                if not exited:  # a failed start: the client must not hang
                    fut.set_result(result)
                    continue
                keep.append((cond, fut))
                continue
            fut.set_result(result)
        if keep:
            self._waiters[c.id] = keep

    # -- rename, pause ------------------------------------------------------------------------

    async def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        if not NAME_RE.match(new_name):
            raise InvalidArgument(f"Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        new_name = new_name.lstrip("/")
        if new_name == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        old = c.name
        self.store.reserve_name(new_name, c.id)
        c = replace(c, name=new_name)
        self.store.save(c)
        self.store.release_name(old)
        self._event(c, "rename", oldName=f"/{old}")

    def _cgroup(self, c: Container) -> cgroups.Cgroup:
        return cgroups.Cgroup(self.paths.cgroup(c))

    async def update(self, ref: str, body: Mapping[str, Any]) -> list[str]:
        """``docker update``: new resource limits (applied at once to a running container's
        cgroup) and restart policy. Returns warnings; raises InvalidArgument, NotFound."""
        c = self.get(ref)
        async with self._lock(c.id):
            c = self.store.get(c.id)
            try:
                host_config, apply = resources_mod.merge_update(c.host_config, body)
            except InvalidArgument as e:
                raise InvalidArgument(f"Cannot update container {c.id}: {e.message}") from None
            if c.state.running and apply:
                try:
                    await asyncio.to_thread(self._cgroup(c).set_resources, apply)
                except OSError as e:
                    raise InvalidArgument(f"Cannot update container {c.id}: {e.strerror or e}") from None
            c = replace(c, host_config=host_config)
            self.store.save(c)
        self._event(c, "update")
        return []

    def _thaw(self, c: Container) -> None:
        try:
            self._cgroup(c).thaw()
        except OSError:
            pass
        self.store.save(c.with_state(status="running"))

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        if not c.state.running or c.state.status == "restarting":
            raise Conflict(f"Container {c.id} is not running")
        if c.state.status == "paused":
            raise Conflict(f"Container {c.id} is already paused")
        try:
            await asyncio.to_thread(self._cgroup(c).freeze)
        except OSError as e:
            raise SystemError(f"cannot pause container {c.id}: {e}") from None
        c = c.with_state(status="paused")
        self.store.save(c)
        self._event(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        if c.state.status != "paused":
            raise Conflict(f"Container {c.id} is not paused")
        await asyncio.to_thread(self._cgroup(c).thaw)
        c = c.with_state(status="running")
        self.store.save(c)
        self._event(c, "unpause")

    # -- attach -----------------------------------------------------------------------------------

    async def attach(self, ref: str, *, stdout: bool, stderr: bool) -> tuple[Container, Subscriber]:
        """Subscribe to a container's output, before or after it starts."""
        c = self.get(ref)
        sub = Subscriber(stdout=stdout, stderr=stderr)
        live = self._live.get(c.id)
        if live is not None:
            first = not live.subscribers
            live.subscribers.add(sub)
            if first:
                await live.send(
                    {"op": "attach", "stdout": True, "stderr": True, "stdin": bool(c.config.get("OpenStdin"))}
                )
        elif c.state.running:
            raise Conflict(f"container {c.id} is restarting: wait until it is running")
        else:
            self._pending.setdefault(c.id, []).append(sub)
        self._event(c, "attach")
        return c, sub

    async def detach(self, cid: str, sub: Subscriber) -> None:
        live = self._live.get(cid)
        if live is not None and sub in live.subscribers:
            live.subscribers.discard(sub)
            if not live.subscribers:
                await live.send(
                    {
                        "op": "attach",
                        "stdout": False,
                        "stderr": False,
                        "stdin": bool(self.store.get(cid).config.get("OpenStdin")) if self.store.exists(cid) else False,
                    }
                )
        pending = self._pending.get(cid)
        if pending and sub in pending:
            pending.remove(sub)

    async def write_stdin(self, cid: str, data: bytes) -> None:
        live = self._live.get(cid)
        if live is None:
            # Attached before start: wait for the monitor.
            for _ in range(500):
                await asyncio.sleep(0.01)
                live = self._live.get(cid)
                if live is not None:
                    break
                if not self.store.exists(cid) or self.store.get(cid).state.status == "exited":
                    return
            if live is None:
                return
        try:
            await live.conn.send_stdin(data)
        except (ConnectionError, OSError):
            pass

    async def close_stdin(self, cid: str) -> None:
        live = self._live.get(cid)
        if live is None:
            for _ in range(500):
                await asyncio.sleep(0.01)
                live = self._live.get(cid)
                if live is not None or not self.store.exists(cid) or self.store.get(cid).state.status == "exited":
                    break
        if live is not None:
            await live.send({"op": "close_stdin"})

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        live = self._live.get(c.id)
        if live is None:
            raise Conflict(f"Container {c.id} is not running")
        await live.send({"op": "resize", "height": height, "width": width})

    # -- networks -----------------------------------------------------------------------------------

    async def connect_network(self, ref: str, net_ref: str, cfg: Mapping[str, Any]) -> None:
        if self.network is None:
            raise InvalidArgument("networking is not available")
        c = self.get(ref)
        n = self.network.get(net_ref)
        async with self._lock(c.id):
            c = self.store.get(c.id)
            networks = await self.network.connect(c, n, cfg)
            self.store.save(replace(c, networks=networks))

    async def disconnect_network(self, ref: str, net_ref: str, *, force: bool = False) -> None:
        if self.network is None:
            raise InvalidArgument("networking is not available")
        c = self.get(ref)
        n = self.network.get(net_ref)
        async with self._lock(c.id):
            c = self.store.get(c.id)
            networks = await self.network.disconnect(c, n)
            self.store.save(replace(c, networks=networks))

    # -- logs -------------------------------------------------------------------------------------

    async def logs(
        self,
        ref: str,
        *,
        stdout: bool,
        stderr: bool,
        follow: bool,
        since_ns: int,
        until_ns: int,
        tail: int,
        timestamps: bool,
    ) -> tuple[Container, AsyncIterator[tuple[int, bytes]]]:
        c = self.get(ref)
        if not stdout and not stderr:
            raise InvalidArgument("You must choose at least one stream")
        lc = c.host_config.get("LogConfig") or {}
        if (lc.get("Type") or self.log_driver) == "none":
            raise InvalidArgument("configured logging driver does not support reading")
        path = self.log_path(c.id)
        return c, self._log_stream(
            c.id,
            path,
            stdout=stdout,
            stderr=stderr,
            follow=follow,
            since_ns=since_ns,
            until_ns=until_ns,
            tail=tail,
            timestamps=timestamps,
        )

    async def _log_stream(
        self,
        cid: str,
        path: Path,
        *,
        stdout: bool,
        stderr: bool,
        follow: bool,
        since_ns: int,
        until_ns: int,
        tail: int,
        timestamps: bool,
    ) -> AsyncIterator[tuple[int, bytes]]:
        from ballena.pkg.timeutil import parse_rfc3339

        def render(entry: dict[str, str]) -> tuple[int, bytes] | None:
            stream = 2 if entry.get("stream") == "stderr" else 1
            if (stream == 1 and not stdout) or (stream == 2 and not stderr):
                return None
            ts = entry.get("time", "")
            if since_ns or until_ns or timestamps:
                try:
                    ns = parse_rfc3339(ts)
                except InvalidArgument:
                    ns = 0
                if since_ns and ns < since_ns:
                    return None
                if until_ns and ns > until_ns:
                    return None
            data = entry.get("log", "").encode()
            if timestamps:
                secs, frac = divmod(ns, 10**9)
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z "
                data = stamp.encode() + data
            return stream, data

        # Past entries: read every file (oldest first), keep the last ``tail`` matching ones.
        files = log_files(str(path))
        positions: dict[str, int] = {}
        entries: list[tuple[int, bytes]] = []
        for p in files:
            try:
                with open(p, "rb") as f:
                    data = f.read()
                    positions[p] = len(data) - (
                        len(data) - data.rfind(b"\n") - 1 if data and not data.endswith(b"\n") else 0
                    )
            except FileNotFoundError:
                continue
            for line in data.split(b"\n"):
                if not line:
                    continue
                try:
                    r = render(json.loads(line))
                except ValueError:
                    continue
                if r is not None:
                    entries.append(r)
        if tail >= 0:
            entries = entries[-tail:] if tail > 0 else []
        for e in entries:
            yield e
        if not follow:
            return
        # Follow the live file; rotation starts it over.
        current = str(path)
        offset = positions.get(current, 0)
        ino = os.stat(current).st_ino if os.path.exists(current) else 0
        buf = b""
        while True:
            try:
                st = os.stat(current)
            except FileNotFoundError:
                st = None
            if st is not None and st.st_ino != ino:
                ino, offset, buf = st.st_ino, 0, b""
            if st is not None and st.st_size > offset:
                with open(current, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    try:
                        r = render(json.loads(line))
                    except ValueError:
                        continue
                    if r is not None:
                        yield r
                continue
            if until_ns and now_ns() > until_ns:
                return
            try:
                c = self.store.get(cid)
            except NotFound:
                return
            if not c.state.running:
                # One last look after the exit: the monitor flushed before reporting.
                if st is not None and os.stat(current).st_size > offset:
                    continue
                return
            await asyncio.sleep(0.05)

    # -- exec ---------------------------------------------------------------------------------------

    def exec_create(self, ref: str, body: dict[str, Any]) -> str:
        c = self.get(ref)
        if not c.state.running or c.state.status == "restarting":
            raise Conflict(f"container {c.id} is not running")
        if c.state.status == "paused":
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        cmd = body.get("Cmd") or []
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise InvalidArgument("No exec command specified")
        size = body.get("ConsoleSize")
        eid = generate_id()
        cfg = ExecConfig(
            id=eid,
            container_id=c.id,
            cmd=tuple(cmd),
            env=tuple(body.get("Env") or ()),
            user=body.get("User") or "",
            working_dir=body.get("WorkingDir") or "",
            tty=bool(body.get("Tty")),
            privileged=bool(body.get("Privileged")),
            attach_stdin=bool(body.get("AttachStdin")),
            attach_stdout=bool(body.get("AttachStdout")),
            attach_stderr=bool(body.get("AttachStderr")),
            detach_keys=body.get("DetachKeys") or "",
            console_size=(int(size[0]), int(size[1])) if size and len(size) == 2 and any(size) else None,
        )
        self.execs[eid] = ExecState(config=cfg)
        c = replace(c, exec_ids=(*c.exec_ids, eid))
        self.store.update(c)
        self._event(c, "exec_create: " + " ".join(cfg.cmd), execID=eid)
        return eid

    def exec_get(self, eid: str) -> ExecState:
        ex = self.execs.get(eid)
        if ex is None:
            raise NotFound(f"No such exec instance: {eid}")
        return ex

    def _exec_process(self, c: Container, cfg: ExecConfig) -> dict[str, Any]:
        spec_path = self.paths.state_dir(c.id) / "config.json"
        spec = json.loads(spec_path.read_text())
        proc = spec["process"]
        u = self.resolve_user(c, cfg.user or c.config.get("User") or "")
        env = ocispec.merge_env(list(proc.get("env") or []), list(cfg.env))
        if cfg.tty and not any(e.startswith("TERM=") for e in env):
            env.append("TERM=xterm")
        caps = proc.get("capabilities") or {}
        if cfg.privileged:
            allc = self._available()
            caps = {"bounding": allc, "effective": allc, "permitted": allc}
        out = {
            "terminal": cfg.tty,
            "user": {"uid": u.uid, "gid": u.gid, **({"additionalGids": list(u.sgids)} if u.sgids else {})},
            "args": list(cfg.cmd),
            "env": env,
            "cwd": cfg.working_dir or proc.get("cwd") or "/",
            "capabilities": caps,
            "noNewPrivileges": bool(proc.get("noNewPrivileges")),
        }
        if proc.get("rlimits"):
            out["rlimits"] = proc["rlimits"]
        if cfg.console_size:
            out["consoleSize"] = {"height": cfg.console_size[0], "width": cfg.console_size[1]}
        return out

    async def exec_start(
        self, eid: str, *, detach: bool, tty: bool | None = None, console_size: tuple[int, int] | None = None
    ) -> ExecSession:
        ex = self.exec_get(eid)
        if ex.started:
            raise Conflict(f"Error: Exec command {eid} has already run")
        c = self.store.get(ex.config.container_id)
        if not c.state.running:
            raise Conflict(f"container {c.id} is not running")
        if c.state.status == "paused":
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        ex.started = True
        cfg = ex.config
        if tty is not None and tty != cfg.tty:
            cfg = replace(cfg, tty=tty)
        if console_size:
            cfg = replace(cfg, console_size=console_size)
        process = await asyncio.to_thread(self._exec_process, c, cfg)
        try:
            conn = await MonitorConn.connect(self.paths.state_dir(c.id))
        except Unavailable:
            raise Conflict(f"container {c.id} is not running") from None
        await conn.send_json(
            {
                "op": "exec",
                "id": eid,
                "process": process,
                "stdin": cfg.attach_stdin and not detach,
                "console_size": list(cfg.console_size) if cfg.console_size else None,
            }
        )
        msg = await conn.next_json()
        if msg is None or msg.get("event") == "exec_error":
            conn.close()
            message = (msg or {}).get("message") or "exec failed"
            ex.exit_code = _start_exit_code(message)
            raise _ExecStartError(message, ex.exit_code)
        ex.running = True
        ex.pid = int(msg.get("pid", 0))
        self._event(c, "exec_start: " + " ".join(cfg.cmd), execID=eid)
        session = ExecSession(self, ex, conn, c)
        if detach:
            session.discard_output()
        return session

    def _exec_finished(self, ex: ExecState, code: int, c: Container) -> None:
        ex.running = False
        ex.exit_code = code
        ex.session = None
        self._event(c, "exec_die", execID=ex.config.id, exitCode=str(code))

    async def exec_resize(self, eid: str, height: int, width: int) -> None:
        ex = self.exec_get(eid)
        session = ex.session
        if session is None:
            raise Conflict(f"exec {eid} is not running")
        await session.conn.send_json({"op": "resize", "height": height, "width": width})

    # -- prune --------------------------------------------------------------------------------------

    async def prune(self, filters: Filters) -> tuple[list[str], int]:
        from ballena.pkg.timeutil import parse_api_timestamp

        until = min(parse_api_timestamp(v) for v in filters.get("until")) if "until" in filters else None
        removed, reclaimed = [], 0
        for c in self.store.all():
            if c.state.running:
                continue
            if until is not None and c.created_ns > until:
                continue
            if "label" in filters and not filters.match_labels("label", dict(c.labels)):
                continue
            if "label!" in filters and filters.match_labels("label!", dict(c.labels)):
                continue
            size = await asyncio.to_thread(self.size_rw, c)
            try:
                await self.remove(c.id)
            except BallenaError:
                continue
            removed.append(c.id)
            reclaimed += size
        return removed, reclaimed

    def size_rw(self, c: Container) -> int:
        from ballena.stores.snapshots import dir_size

        try:
            return dir_size(self.images.snapshots.upper_dir(c.id))
        except NotFound:
            return 0

    def size_rootfs(self, c: Container) -> int:
        try:
            img = self.images.get(c.image_id)
            return img.size + self.size_rw(c)
        except NotFound:
            return self.size_rw(c)

    # -- top ----------------------------------------------------------------------------------------

    def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        c = self.get(ref)
        if not c.state.running:
            raise Conflict(f"container {c.id} is not running")
        pids = set(self._cgroup(c).pids())
        if not pids and c.state.pid:
            pids = {c.state.pid}
        import subprocess

        args = ps_args.split() if ps_args else ["-ef"]
        try:
            out = subprocess.run(["ps", *args], capture_output=True, text=True, check=True).stdout
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            raise InvalidArgument(f"Error running ps: {e}") from None
        lines = out.splitlines()
        if not lines:
            return {"Titles": [], "Processes": []}
        titles = lines[0].split()
        if "PID" not in titles:
            raise InvalidArgument("Couldn't find PID field in ps output")
        pid_index = titles.index("PID")
        procs = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) <= pid_index:
                continue
            try:
                pid = int(fields[pid_index])
            except ValueError:
                continue
            if pid in pids:
                procs.append(fields)
        return {"Titles": titles, "Processes": procs}

    # -- live restore ---------------------------------------------------------------------------

    async def restore(self) -> None:
        """At start-up: reattach to monitors of running containers, settle those that exited."""
        state_root = self.paths.exec_root / "containers"
        if state_root.is_dir():
            leftovers = [Path(e.path) for e in os.scandir(state_root) if e.name.startswith(".removing-")]
            await asyncio.to_thread(_rmtree_all, leftovers)
        for c in self.store.load():
            if c.state.status == "removing":
                try:
                    await asyncio.to_thread(self._remove_files, c, False)
                except BallenaError:
                    pass
                continue
            # A record may say "created" although its monitor runs: the daemon died between
            # starting it and saving that. The monitor's socket tells.
            if not c.state.running and not (self.paths.state_dir(c.id) / "monitor.sock").exists():
                continue
            try:
                conn = await MonitorConn.connect(self.paths.state_dir(c.id))
                await conn.send_json({"op": "hello", "role": "control"})
                msg = await conn.next_json()
            except (Unavailable, ConnectionError, OSError):
                msg, conn = None, None
            if msg is not None and msg.get("status") == "running" and conn is not None:
                live = _Live(conn)
                self._live[c.id] = live
                live.task = asyncio.ensure_future(self._follow(c.id, live))
                status = c.state.status if c.state.status == "paused" else "running"
                self.store.update(c.with_state(status=status, pid=int(msg.get("pid") or c.state.pid)))
                log.info("reattached to running container %s (%s)", c.short_id, c.name)
                continue
            if conn is not None:
                conn.close()
            info = (
                (msg or {}).get("exit")
                or self._read_exit_file(c.id)
                or {"exit_code": 255, "oom_killed": False, "finished_at": now_ns(), "lost": True}
            )
            log.info("container %s exited while the daemon was away (status %s)", c.short_id, info.get("exit_code"))
            self._unmount_leftover(c)
            await self._on_exit(c.id, info)
        if self.network is not None:
            await self.network.restore([c for c in self.store.all() if c.state.running and c.id in self._live])
        for c in self.store.all():
            policy = (c.host_config.get("RestartPolicy") or {}).get("Name") or "no"
            if (
                not c.state.running
                and c.has_been_started
                and not c.manually_stopped
                and policy in ("always", "unless-stopped")
            ):
                try:
                    await self.start(c.id)
                except BallenaError as e:
                    log.warning("could not restart %s: %s", c.name, e.message)

    def _unmount_leftover(self, c: Container) -> None:
        rootfs = self.paths.state_dir(c.id) / "rootfs"
        if _is_mountpoint(rootfs):
            from ballena.pkg import linux

            try:
                linux.umount(str(rootfs), linux.MNT_DETACH)
            except OSError:
                pass
        cg = cgroups.Cgroup(self.paths.cgroup(c))
        if cg.exists():
            cg.kill_all()
            cg.remove(timeout=1)

    async def shutdown(self) -> None:
        """The daemon stops; containers keep running (live-restore)."""
        for task in list(self._restart_tasks.values()):
            task.cancel()
        for live in list(self._live.values()):
            if live.task is not None:
                live.task.cancel()
            live.conn.close()
        if self.network is not None:
            await self.network.shutdown()


class _ExecStartError(BallenaError):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ExecSession:
    """A running exec: its output frames, its stdin, its exit."""

    def __init__(self, service: ContainerService, ex: ExecState, conn: MonitorConn, container: Container) -> None:
        self.service = service
        self.ex = ex
        self.conn = conn
        self.container = container
        ex.session = self

    async def frames(self) -> AsyncIterator[tuple[int, bytes]]:
        """Output until the exec exits; records its exit code before the last item."""
        code: int | None = None
        try:
            while True:
                frame = await self.conn.next_frame()
                if frame is None:
                    break
                kind, payload = frame
                if kind == proto.JSON:
                    msg = json.loads(payload)
                    if msg.get("event") == "exec_exit":
                        code = int(msg.get("exit_code", 0))
                        break
                    continue
                yield (2 if kind == proto.STDERR else 1), payload
        finally:
            self.conn.close()
            self.service._exec_finished(self.ex, code if code is not None else 137, self.container)

    def discard_output(self) -> None:
        async def drain() -> None:
            async for _ in self.frames():
                pass

        asyncio.ensure_future(drain())

    async def send_stdin(self, data: bytes) -> None:
        try:
            await self.conn.send_stdin(data)
        except (ConnectionError, OSError):
            pass

    async def close_stdin(self) -> None:
        try:
            await self.conn.send_json({"op": "close_stdin"})
        except (ConnectionError, OSError, RuntimeError):
            pass


# -- helpers --------------------------------------------------------------------------------------


# Namespaced sysctls, and the namespace each belongs to (runc's validation).
_IPC_SYSCTLS = frozenset(
    {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
     "kernel.shmmni", "kernel.shm_rmid_forced"}
)  # fmt: skip


def _check_sysctls(values: Mapping[str, str], namespaces: Mapping[str, str | None]) -> None:
    """A sysctl may only be set in a namespace the container has to itself: anything else
    would change the host (or another container). Raises InvalidArgument with runc's words."""
    for key in values:
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if "ipc" not in namespaces or namespaces["ipc"]:
                raise InvalidArgument(f'sysctl "{key}" not allowed in host IPC namespace')
        elif key.startswith("net."):
            if "network" not in namespaces or namespaces["network"]:
                raise InvalidArgument(f'sysctl "{key}" not allowed in host network namespace')
        elif key in ("kernel.hostname", "kernel.domainname"):
            if "uts" not in namespaces:
                raise InvalidArgument(f'sysctl "{key}" not allowed in host UTS namespace')
        else:
            raise InvalidArgument(f'sysctl "{key}" is not in a separate kernel namespace')


def _rmtree_all(paths: list[Path]) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)


def _is_mountpoint(path: Path) -> bool:
    try:
        return os.path.ismount(path)
    except OSError:
        return False


def _start_exit_code(message: str) -> int:
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 128


def _merge_image_config(user: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """moby's merge(): the image fills what the user left out."""
    if not user.get("User"):
        user["User"] = image.get("User", "")
    ports = dict(image.get("ExposedPorts") or {})
    ports.update(user.get("ExposedPorts") or {})
    user["ExposedPorts"] = ports or None
    if not user.get("Env"):
        user["Env"] = list(image.get("Env") or [])
    else:
        keys = {e.partition("=")[0] for e in user["Env"]}
        user["Env"] = list(user["Env"]) + [e for e in image.get("Env") or [] if e.partition("=")[0] not in keys]
    labels = dict(image.get("Labels") or {})
    labels.update(user.get("Labels") or {})
    user["Labels"] = labels
    if not user.get("Entrypoint"):
        if not user.get("Cmd"):
            user["Cmd"] = image.get("Cmd")
        if user.get("Entrypoint") is None:
            user["Entrypoint"] = image.get("Entrypoint")
    if user.get("Entrypoint") == [""]:
        user["Entrypoint"] = None
    if not user.get("WorkingDir"):
        user["WorkingDir"] = image.get("WorkingDir", "")
    vols = dict(image.get("Volumes") or {})
    vols.update(user.get("Volumes") or {})
    user["Volumes"] = vols or None
    if not user.get("StopSignal") and image.get("StopSignal"):
        user["StopSignal"] = image["StopSignal"]
    if image.get("Healthcheck") and not user.get("Healthcheck"):
        user["Healthcheck"] = image["Healthcheck"]
    if image.get("OnBuild") and not user.get("OnBuild"):
        user["OnBuild"] = image["OnBuild"]
    if image.get("Shell") and not user.get("Shell"):
        user["Shell"] = image["Shell"]
    return user


_RESTART_NAMES = ("", "no", "always", "unless-stopped", "on-failure")


def _normalize_host_config(
    hc: dict[str, Any], runtimes: Mapping[str, RuntimeInfo], default_runtime: str
) -> dict[str, Any]:
    hc = dict(hc or {})
    policy = dict(hc.get("RestartPolicy") or {})
    name = policy.get("Name") or ""
    if name not in _RESTART_NAMES:
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if policy.get("MaximumRetryCount") and name != "on-failure":
        raise InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    if int(policy.get("MaximumRetryCount") or 0) < 0:
        raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    if hc.get("AutoRemove") and name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    hc["RestartPolicy"] = {"Name": name or "no", "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0)}
    runtime = hc.get("Runtime") or default_runtime
    if runtime not in runtimes:
        raise InvalidArgument(f"Unknown runtime specified {runtime}")
    hc["Runtime"] = runtime
    if not hc.get("NetworkMode") or hc["NetworkMode"] == "default":
        hc["NetworkMode"] = "bridge"
    if hc.get("ShmSize") is not None and int(hc["ShmSize"]) < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    for cap in (hc.get("CapAdd") or []) + (hc.get("CapDrop") or []):
        try:
            ocispec.normalize_cap(cap)
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
    for opt in hc.get("SecurityOpt") or []:
        key = opt.split("=", 1)[0].split(":", 1)[0]
        if key not in ("seccomp", "apparmor", "label", "no-new-privileges", "systempaths", "writable-cgroups"):
            raise InvalidArgument(f'invalid --security-opt 1: "{opt}"')
    return hc


def _devices(hc: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    import stat as _stat

    devices: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    if hc.get("Privileged"):
        for root, _dirs, files in os.walk("/dev"):
            if root.startswith(("/dev/pts", "/dev/shm", "/dev/mqueue")):
                continue
            for f in files:
                p = os.path.join(root, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if _stat.S_ISCHR(st.st_mode) or _stat.S_ISBLK(st.st_mode):
                    if p in ("/dev/console", "/dev/ptmx", "/dev/tty") or p.startswith("/dev/pts/"):
                        continue
                    devices.append(
                        {
                            "path": p,
                            "type": "c" if _stat.S_ISCHR(st.st_mode) else "b",
                            "major": os.major(st.st_rdev),
                            "minor": os.minor(st.st_rdev),
                            "fileMode": _stat.S_IMODE(st.st_mode),
                            "uid": st.st_uid,
                            "gid": st.st_gid,
                        }
                    )
        return devices, rules
    for d in hc.get("Devices") or []:
        host = d.get("PathOnHost")
        inside = d.get("PathInContainer") or host
        perms = d.get("CgroupPermissions") or "rwm"
        try:
            st = os.stat(host)
        except OSError:
            raise InvalidArgument(
                f'error gathering device information while adding custom device "{host}": no such file or directory'
            ) from None
        if not (_stat.S_ISCHR(st.st_mode) or _stat.S_ISBLK(st.st_mode)):
            raise InvalidArgument(
                f'error gathering device information while adding custom device "{host}": not a device node'
            )
        kind = "c" if _stat.S_ISCHR(st.st_mode) else "b"
        devices.append(
            {
                "path": inside,
                "type": kind,
                "major": os.major(st.st_rdev),
                "minor": os.minor(st.st_rdev),
                "fileMode": _stat.S_IMODE(st.st_mode),
                "uid": st.st_uid,
                "gid": st.st_gid,
            }
        )
        rules.append(
            {"allow": True, "type": kind, "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev), "access": perms}
        )
    for rule in hc.get("DeviceCgroupRules") or []:
        m = re.match(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$", rule)
        if not m:
            raise InvalidArgument(f"invalid device cgroup format '{rule}'")
        rules.append(
            {
                "allow": True,
                "type": m.group(1),
                "major": -1 if m.group(2) == "*" else int(m.group(2)),
                "minor": -1 if m.group(3) == "*" else int(m.group(3)),
                "access": m.group(4),
            }
        )
    return devices, rules


def _match_filters(c: Container, f: Filters, images: ImageStore) -> bool:
    if "id" in f and not any(c.id.startswith(v) for v in f.get("id")):
        return False
    if "name" in f and not f.match_any_regex("name", "/" + c.name) and not f.match_any_regex("name", c.name):
        return False
    if "status" in f and c.state.status not in f.get("status"):
        return False
    if "label" in f and not f.match_labels("label", dict(c.labels)):
        return False
    if "exited" in f:
        if c.state.running or c.state.status == "created":
            return False
        if str(c.state.exit_code) not in f.get("exited"):
            return False
    if "ancestor" in f:
        ok = False
        for v in f.get("ancestor"):
            try:
                iid = images.resolve(v)
            except BallenaError:
                continue
            if c.image_id == iid or iid in _ancestors(images, c.image_id):
                ok = True
        if not ok:
            return False
    if "network" in f and not any(n in c.networks for n in f.get("network")):
        return False
    if "volume" in f and not any(
        any(v in (m.get("Name"), m.get("Source"), m.get("Destination")) for m in c.mounts) for v in f.get("volume")
    ):
        return False
    if "expose" in f or "publish" in f:
        exposed = set((c.config.get("ExposedPorts") or {}).keys())
        for v in f.get("expose"):
            if v not in exposed and f"{v}/tcp" not in exposed:
                return False
    return True


def _ancestors(images: ImageStore, image_id: str) -> set[str]:
    out = set()
    seen = 0
    while image_id and seen < 256:
        try:
            parent = images.get(image_id).parent
        except NotFound:
            break
        if parent:
            out.add(parent)
        image_id = parent
        seen += 1
    return out
