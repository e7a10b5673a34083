"""Wiring: builds the stores and services from the configuration, serves the API, and recovers
state at start-up. This is the only module that knows every part."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import ssl
from pathlib import Path

from ballena import __version__
from ballena.api.http import Server
from ballena.api.router import API_VERSION, Router
from ballena.api.routes import absent as absent_routes
from ballena.api.routes import build as build_routes
from ballena.api.routes import containers as containers_routes
from ballena.api.routes import filesystem as filesystem_routes
from ballena.api.routes import images as images_routes
from ballena.api.routes import layers as layers_routes
from ballena.api.routes import library as library_routes
from ballena.api.routes import networks as networks_routes
from ballena.api.routes import registry as registry_routes
from ballena.api.routes import system as system_routes
from ballena.api.routes import volumes as volumes_routes
from ballena.daemon.config import DaemonConfig
from ballena.distribution.endpoints import Registries
from ballena.errors import SystemFailure
from ballena.pkg import linux
from ballena.pkg.stringid import generate_id
from ballena.runtime import cgroups
from ballena.services.build import BuildService
from ballena.services.containers import (
    Bundles,
    ContainerEvents,
    ContainerQueries,
    DnsDefaults,
    Execs,
    HostDefaults,
    Lifecycle,
    LogDefaults,
    Logs,
    NetworkAttachments,
    Paths,
    RuntimeInfo,
    Supervisor,
)
from ballena.services.events import EventBus
from ballena.services.filesystem import FilesystemService
from ballena.services.imagearchives import ImageArchives
from ballena.services.images import ImageService
from ballena.services.layers import LayerAnalysis
from ballena.services.library import LibraryService
from ballena.services.networks import NetworkService
from ballena.services.registry import RegistryService
from ballena.services.sandboxes import Sandboxes
from ballena.services.stats import StatsService
from ballena.services.system import EngineSettings, SystemService, host_facts
from ballena.services.volumes import VolumeService
from ballena.shim.spawner import Zygote
from ballena.stores.containers import ContainerStore
from ballena.stores.content import LocalContentStore
from ballena.stores.images import ImageStore
from ballena.stores.metadata import Database
from ballena.stores.networks import NetworkStore
from ballena.stores.snapshots import OverlaySnapshotter
from ballena.stores.volumes import VolumeStore

log = logging.getLogger("ballena.daemon")


class DaemonLock:
    """One daemon per data root: an exclusive flock held for the daemon's life."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def acquire(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(self.fd, 32, 0).decode().strip() or "?"
            os.close(self.fd)
            self.fd = -1
            raise SystemFailure(
                f"another ballenad (pid {other}) is already using the data root "
                f"{self.path.parent}; stop it or choose another --data-root"
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Daemon:
    def __init__(self, cfg: DaemonConfig) -> None:
        self.cfg = cfg
        self.facts = host_facts()
        self.events = EventBus()
        self.lock = DaemonLock(cfg.data_root / "ballena.lock")
        self.server: Server | None = None
        self._unix_paths: list[Path] = []
        self._stopping = asyncio.Event()

    # -- start-up -----------------------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        for d in (self.cfg.data_root, self.cfg.exec_root):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o711)
        self.lock.acquire()
        # Nothing is live before the daemon serves: what a killed daemon left in its temporary
        # directory (a half-uploaded load, a build context) belongs to nobody.
        tmp = self.cfg.data_root / "tmp"
        if tmp.is_dir():
            for entry in os.scandir(tmp):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
        id_file = self.cfg.data_root / "engine-id"
        if not id_file.exists():
            id_file.write_text(generate_id()[:12].upper() + generate_id()[:24].upper())
        self.engine_id = id_file.read_text().strip()

    def _open_stores(self) -> None:
        root = self.cfg.data_root
        self.db = Database(root / "metadata.db")
        self.content = LocalContentStore(root / "content")
        self.snapshots = OverlaySnapshotter(root / "snapshots", self.db)
        self.image_store = ImageStore(db=self.db, content=self.content, snapshots=self.snapshots)
        self.image_store.gc()
        self.images = ImageService(store=self.image_store, events=self.events)
        self.archives = ImageArchives(store=self.image_store, events=self.events, tmp_dir=root / "tmp")
        runtimes = {
            "ballena": RuntimeInfo(name="ballena", path="native"),
            "runc": RuntimeInfo(name="runc", path="runc"),
        }
        for name, spec in self.cfg.runtimes.items():
            runtimes[name] = RuntimeInfo(name=name, path=spec.path, args=spec.args)
        self.zygote = Zygote(log_path=self.cfg.exec_root / "monitors.log")
        # Started at the first `docker cp` or `docker export`.
        self.file_helpers = Zygote(log_path=self.cfg.exec_root / "monitors.log", file_helpers=True)
        self.volume_store = VolumeStore(root / "volumes", self.db)
        self.volume_store.clean()
        self.volumes = VolumeService(store=self.volume_store, events=self.events)
        container_store = ContainerStore(root / "containers")
        self.network = NetworkService(
            store=NetworkStore(self.db),
            events=self.events,
            bip=self.cfg.bip,
            default_bridge=self.cfg.bridge,
        )
        self.sandboxes = Sandboxes(networks=self.network, daemon_dns=self.cfg.dns)
        self.runtimes = runtimes
        self._wire_containers(container_store, runtimes)
        self.images.users = self.queries
        self.volumes.users = self.queries.users_of_volume
        self.filesystem = FilesystemService(
            queries=self.queries,
            supervisor=self.supervisor,
            images=self.image_store,
            paths=self.paths,
            volumes=self.volumes,
            zygote=self.file_helpers,
            events=self.events,
        )
        self.registry = RegistryService(
            store=self.image_store,
            events=self.events,
            registries=Registries(
                insecure=self.cfg.insecure_registries,
                mirrors=self.cfg.registry_mirrors,
                certs_dir=self.cfg.registry_certs_dir,
            ),
            max_downloads=self.cfg.max_concurrent_downloads,
            max_uploads=self.cfg.max_concurrent_uploads,
        )
        self.builder = BuildService(
            store=self.image_store,
            images=self.images,
            lifecycle=self.lifecycle,
            supervisor=self.supervisor,
            queries=self.queries,
            events=self.events,
            tmp_dir=root / "tmp",
        )
        self.library = LibraryService(
            store=self.image_store,
            builder=self.builder,
            registry=self.registry,
            images=self.images,
            cache_dir=root / "library",
            tmp_dir=root / "tmp",
            fallback=self.cfg.offline_library,
        )
        self.builder.pull = self.library.pull_for_build  # FROM redis, with the library's fallback

    def _wire_containers(self, store: ContainerStore, runtimes: dict[str, RuntimeInfo]) -> None:
        cfg = self.cfg
        self.paths = Paths(data_root=cfg.data_root, exec_root=cfg.exec_root, cgroup_parent=cfg.cgroup_parent)
        log_defaults = LogDefaults(driver=cfg.log_driver, options=dict(cfg.log_opts))
        events = ContainerEvents(self.events)
        self.queries = ContainerQueries(
            store=store,
            images=self.image_store,
            paths=self.paths,
            log_defaults=log_defaults,
            cgroup_version=cgroups.layout().version,
        )
        self.bundles = Bundles(
            images=self.image_store,
            store=store,
            paths=self.paths,
            runtimes=runtimes,
            lookup=self.queries.get,
            volumes=self.volumes,
            sandboxes=self.sandboxes,
            dns=DnsDefaults(servers=cfg.dns, search=cfg.dns_search, options=cfg.dns_opts),
            logs=log_defaults,
        )
        self.supervisor = Supervisor(store=store, paths=self.paths, events=events)
        self.lifecycle = Lifecycle(
            store=store,
            queries=self.queries,
            images=self.image_store,
            bundles=self.bundles,
            supervisor=self.supervisor,
            zygote=self.zygote,
            paths=self.paths,
            events=events,
            defaults=HostDefaults(
                runtimes=runtimes,
                default_runtime=cfg.default_runtime,
                log=log_defaults,
                cgroupns_mode="private" if cgroups.layout().version == "2" else "host",
            ),
            volumes=self.volumes,
            sandboxes=self.sandboxes,
        )
        self.execs = Execs(
            store=store, queries=self.queries, bundles=self.bundles, supervisor=self.supervisor, events=events
        )
        self.lifecycle.on_removed.append(self.execs.forget)
        self.attachments = NetworkAttachments(
            store=store,
            queries=self.queries,
            sandboxes=self.sandboxes,
            etc=self.bundles.etc,
            locks=self.lifecycle.locks,
        )
        self.logs = Logs(store=store, queries=self.queries, driver_of=self.bundles.log_driver)

    def _router(self) -> Router:
        router = Router()
        system = SystemService(
            facts=self.facts,
            settings=EngineSettings(
                engine_id=self.engine_id,
                data_root=self.cfg.data_root,
                debug=self.cfg.debug,
                live_restore=self.cfg.live_restore,
                log_driver=self.cfg.log_driver,
                default_runtime=self.cfg.default_runtime,
                runtimes=self.runtimes,
                labels=tuple(self.cfg.labels),
                registry_mirrors=tuple(self.cfg.registry_mirrors),
            ),
            queries=self.queries,
            images=self.image_store,
            volumes=self.volumes,
            cache_usage=self.builder.cache_usage,
            event_listeners=lambda: self.events.listeners,
        )
        router.include(system_routes.build(events=self.events, system=system))
        router.include(
            images_routes.build(
                self.images,
                self.archives,
                containers_count=self.queries.image_counts,
                pull=registry_routes.pull_handler(self.registry, self.library),
            )
        )
        router.include(registry_routes.build(self.registry))
        router.include(library_routes.build(self.library))
        router.include(layers_routes.build(LayerAnalysis(store=self.image_store)))
        stats = StatsService(get=self.queries.get, cgroup_path=self.paths.cgroup)
        router.include(
            containers_routes.build(
                queries=self.queries,
                lifecycle=self.lifecycle,
                supervisor=self.supervisor,
                execs=self.execs,
                logs=self.logs,
                stats=stats,
            )
        )
        router.include(filesystem_routes.build(self.filesystem))
        router.include(volumes_routes.build(self.volumes))
        router.include(networks_routes.build(self.network, self.attachments))
        router.include(build_routes.build(self.builder))
        router.include(absent_routes.build())  # last: what we lack answers as dockerd does
        return router

    async def start(self) -> None:
        self.events.bind_loop(asyncio.get_running_loop())
        await asyncio.to_thread(self._prepare_dirs)
        try:
            await asyncio.to_thread(self._open_stores)
            if self.cfg.pidfile:
                self.cfg.pidfile.parent.mkdir(parents=True, exist_ok=True)
                self.cfg.pidfile.write_text(f"{os.getpid()}")
            self.zygote.start()
            self.network.start()
            await self.lifecycle.recover()
            router = self._router()
            self.server = Server(router.dispatch, self._headers)
            for host in self.cfg.hosts:
                await self._listen(host)
        except BaseException:
            self.lock.release()
            raise
        self._housekeeping = asyncio.ensure_future(self._trim_memory())
        log.info("ballenad %s started (API %s), data root %s", __version__, API_VERSION, self.cfg.data_root)

    async def _trim_memory(self) -> None:
        """Every five seconds, hand the heap's free pages back, so that the memory a burst of
        starts and removals used and freed does not stay with the process (tests/load)."""
        while True:
            await asyncio.sleep(5)
            linux.malloc_trim()  # ~1 ms for a heap of this size

    def _headers(self) -> list[tuple[str, str]]:
        return [
            ("Api-Version", API_VERSION),
            ("Docker-Experimental", "false"),
            ("Ostype", "linux"),
            ("Server", f"Ballena/{__version__} (linux)"),
        ]

    async def _listen(self, host: str) -> None:
        assert self.server is not None
        if host.startswith("unix://") or host.startswith("/"):
            path = Path(host[len("unix://") :] if host.startswith("unix://") else host)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() or path.is_symlink():
                # The lock proves no other daemon owns it: a stale socket from a killed daemon.
                path.unlink()
            await self.server.listen_unix(str(path))
            os.chmod(path, 0o660)
            try:
                import grp

                os.chown(path, 0, grp.getgrnam(self.cfg.group).gr_gid)
            except (KeyError, PermissionError):
                pass
            self._unix_paths.append(path)
            log.info("API listening on %s", path)
        elif host.startswith("tcp://"):
            h, _, p = host[len("tcp://") :].rstrip("/").rpartition(":")  # checked by config.check_host
            ctx = self._tls_context()
            if ctx is None and h not in ("127.0.0.1", "localhost", "::1", "[::1]"):
                log.warning("API listening on %s without TLS: anyone who reaches it is root on this host", host)
            await self.server.listen_tcp(h or "0.0.0.0", int(p), ssl=ctx)
            log.info("API listening on %s%s", host, " (TLS)" if ctx else "")

    def _tls_context(self) -> ssl.SSLContext | None:
        cfg = self.cfg
        if not (cfg.tls or cfg.tlsverify or cfg.tlscert):
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cfg.tlscert, cfg.tlskey)
        if cfg.tlsverify:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cfg.tlscacert)
        return ctx

    # -- shutdown -----------------------------------------------------------------------------

    async def stop(self) -> None:
        if getattr(self, "_housekeeping", None) is not None:
            self._housekeeping.cancel()
        if self.server is not None:
            await self.server.close()
        if hasattr(self, "lifecycle"):
            await self.lifecycle.shutdown()
            await self.network.shutdown()
            self.zygote.stop()
            self.file_helpers.stop()
        for p in self._unix_paths:
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        if self.cfg.pidfile:
            try:
                self.cfg.pidfile.unlink()
            except FileNotFoundError:
                pass
        try:
            self.db.close()
        except AttributeError:
            pass
        self.lock.release()
        log.info("ballenad stopped")
