"""Reading containers: lookup, ``docker ps`` and its filters, sizes, ``top``, who uses an image
or a volume, and the host paths ``docker inspect`` shows. Nothing here changes a container.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ballena.core.containers import Container
from ballena.core.volumes import MountPoint
from ballena.errors import BallenaError, Conflict, InvalidArgument, NotFound
from ballena.pkg.filters import Filters
from ballena.runtime import cgroups
from ballena.services.containers.layout import LogDefaults, Paths
from ballena.services.containers.requests import STATUSES
from ballena.stores.containers import ContainerStore
from ballena.stores.images import ImageStore
from ballena.stores.snapshots import dir_size

__all__ = ["ContainerFiles", "ContainerQueries"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerFiles:
    """The host paths of a container that ``docker inspect`` shows."""

    resolv_conf: Path
    hostname: Path
    hosts: Path
    log: Path
    graph: dict[str, str]  # overlay2's LowerDir, MergedDir, UpperDir, WorkDir (empty once gone)


class ContainerQueries:
    def __init__(
        self, *, store: ContainerStore, images: ImageStore, paths: Paths, log_defaults: LogDefaults, cgroup_version: str
    ) -> None:
        self.store = store
        self.images = images
        self.paths = paths
        self.log_defaults = log_defaults  # shown as a container's LogConfig when it set none
        self.cgroup_version = cgroup_version

    def get(self, ref: str) -> Container:
        """Docker's lookup (ID, name, unique ID prefix). Raises NotFound, InvalidArgument."""
        return self.store.resolve(ref)

    def all(self) -> list[Container]:
        return self.store.all()

    def exists(self, cid: str) -> bool:
        return self.store.exists(cid)

    def users_of(self, image_id: str) -> list[tuple[str, bool]]:
        """(container ID, running) for each container of ``image_id`` (image removal checks)."""
        return [(c.id, c.state.running) for c in self.store.all() if c.image_id == image_id]

    def users_of_volume(self, name: str) -> list[str]:
        return [c.id for c in self.store.all() if any(m.name == name for m in c.mounts)]

    def image_counts(self) -> dict[str, int]:
        """How many containers each image has (``docker images`` and ``system df``)."""
        out: dict[str, int] = {}
        for c in self.store.all():
            out[c.image_id] = out.get(c.image_id, 0) + 1
        return out

    def mount_points(self, ref: str) -> list[MountPoint]:
        return list(self.get(ref).mounts)

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
        """``docker ps``: newest first. Raises InvalidArgument for a bad filter value,
        NotFound for a ``before``/``since`` container that does not exist."""
        items = sorted(self.store.all(), key=lambda c: c.created_ns, reverse=True)
        before = min(self.get(v).created_ns for v in filters.get("before")) if "before" in filters else None
        since = max(self.get(v).created_ns for v in filters.get("since")) if "since" in filters else None
        for s in filters.get("status"):
            if s not in STATUSES:
                raise InvalidArgument(f"invalid filter 'status={s}'")
        for h in filters.get("health"):
            if h not in ("starting", "healthy", "unhealthy", "none"):
                raise InvalidArgument(f"Unrecognised filter value for health: {h}")
        everything = all_ or bool(filters.get("status")) or limit > 0 or latest or "exited" in filters
        out = []
        for c in items:
            if not everything and not c.state.running:
                continue
            if before is not None and c.created_ns >= before:
                continue
            if since is not None and c.created_ns <= since:
                continue
            if not self._matches(c, filters):
                continue
            out.append(c)
        if latest:
            out = out[:1]
        if limit > 0:
            out = out[:limit]
        return out

    def _matches(self, c: Container, f: Filters) -> bool:
        if "id" in f and not any(c.id.startswith(v) for v in f.get("id")):
            return False
        if "name" in f and not f.match_any_regex("name", "/" + c.name) and not f.match_any_regex("name", c.name):
            return False
        if "status" in f and c.state.status not in f.get("status"):
            return False
        if "health" in f:
            health = c.state.health.status if c.state.health is not None and c.state.running else "none"
            if health not in f.get("health"):
                return False
        if "label" in f and not f.match_labels("label", dict(c.labels)):
            return False
        if "exited" in f:
            if c.state.running or c.state.status == "created":
                return False
            if str(c.state.exit_code) not in f.get("exited"):
                return False
        if "ancestor" in f and not any(self._descends(c, v) for v in f.get("ancestor")):
            return False
        if "network" in f and not any(n in c.networks for n in f.get("network")):
            return False
        if "volume" in f and not any(
            any(v in (m.name, m.source, m.destination) for m in c.mounts) for v in f.get("volume")
        ):
            return False
        if "expose" in f or "publish" in f:
            exposed = set(c.config.exposed_ports or ())
            for v in f.get("expose"):
                if v not in exposed and f"{v}/tcp" not in exposed:
                    return False
        return True

    def _descends(self, c: Container, image_ref: str) -> bool:
        try:
            wanted = self.images.resolve(image_ref)
        except BallenaError:
            return False
        image_id, seen = c.image_id, 0
        while image_id and seen < 256:
            if image_id == wanted:
                return True
            try:
                image_id = self.images.get(image_id).parent
            except NotFound:
                return False
            seen += 1
        return False

    # -- sizes and files ------------------------------------------------------------------------

    def size_rw(self, c: Container) -> int:
        """Bytes in the container's writable layer (blocking: walks it)."""
        try:
            return dir_size(self.images.snapshots.upper_dir(c.id))
        except NotFound:
            return 0

    def size_rootfs(self, c: Container) -> int:
        try:
            return self.images.get(c.image_id).size + self.size_rw(c)
        except NotFound:
            return self.size_rw(c)

    def files(self, c: Container) -> ContainerFiles:
        d = self.store.dir(c.id)
        graph: dict[str, str] = {}
        try:
            upper = self.images.snapshots.upper_dir(c.id)
            graph = {
                "LowerDir": ":".join(str(p) for p in self.images.snapshots.lower_dirs(c.id)),
                "MergedDir": str(self.paths.state_dir(c.id) / "rootfs"),
                "UpperDir": str(upper),
                "WorkDir": str(upper.parent / "work"),
            }
        except BallenaError:
            pass
        return ContainerFiles(
            resolv_conf=d / "resolv.conf",
            hostname=d / "hostname",
            hosts=d / "hosts",
            log=self.store.log_path(c.id),
            graph=graph,
        )

    # -- top ----------------------------------------------------------------------------------------

    def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        """``docker top``: the host's ``ps`` output, only the container's processes (blocking).
        Raises Conflict for a stopped container, InvalidArgument for ``ps`` arguments it
        cannot use."""
        c = self.get(ref)
        if not c.state.running:
            raise Conflict(f"container {c.id} is not running")
        pids = set(cgroups.Cgroup(self.paths.cgroup(c)).pids())
        if not pids and c.state.pid:
            pids = {c.state.pid}
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
