"""Volume use cases and how a container's mounts are worked out from ``-v``, ``--mount``,
``--volumes-from`` and the image's ``VOLUME`` list (moby's registerMountPoints).

A volume is "in use" while a container (running or not) names it; anonymous volumes belong to
the container that made them and go with it on ``rm -v`` / ``--rm``.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import replace as replace_fields
from typing import Any

from ballena.core.containerconfig import ContainerConfig, HostConfig, Mount, TmpfsOptions, VolumeOptions
from ballena.core.volumes import MountPoint, Volume
from ballena.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, SystemFailure
from ballena.pkg import linux
from ballena.pkg.filters import Filters
from ballena.pkg.securejoin import secure_join
from ballena.pkg.stringid import generate_id
from ballena.services.events import EventBus
from ballena.stores.snapshots import dir_size
from ballena.stores.volumes import VolumeStore

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
LIST_FILTERS = frozenset({"dangling", "driver", "label", "name"})
PRUNE_FILTERS = frozenset({"label", "label!", "all"})
_PROPAGATION = ("shared", "rshared", "slave", "rslave", "private", "rprivate")


class VolumeService:
    def __init__(
        self, *, store: VolumeStore, events: EventBus, users: Callable[[str], list[str]] | None = None
    ) -> None:
        self.store = store
        self.events = events
        self.users: Callable[[str], list[str]] = users or (lambda name: [])
        self._mounted: dict[str, int] = {}

    # -- use cases --------------------------------------------------------------------------------

    def create(
        self,
        name: str | None,
        *,
        driver: str = "local",
        options: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        anonymous: bool = False,
    ) -> Volume:
        if driver not in ("", "local"):
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
        opts = dict(options or {})
        _validate_options(opts)
        if not name:
            name = generate_id()
            anonymous = True
        elif not NAME_RE.match(name):
            if len(name) == 1:
                raise InvalidArgument("volume name is too short, names should be at least two alphanumeric characters")
            raise InvalidArgument(
                f'"{name}" includes invalid characters for a local volume name, only '
                '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                "directory, use absolute path"
            )
        try:
            v = self.store.create(name, labels=dict(labels or {}), options=opts, anonymous=anonymous)
        except AlreadyExists:
            return self.store.get(name)  # Docker: creating an existing volume returns it
        self.events.publish("volume", "create", name, {"driver": "local"})
        return v

    def get(self, name: str) -> Volume:
        return self.store.get(name)

    def list_volumes(self, filters: Filters) -> list[Volume]:
        out = []
        for v in self.store.all():
            dangling = filters.bool_value("dangling")
            if dangling is not None and bool(self.users(v.name)) == dangling:
                continue
            if "name" in filters and not any(n in v.name for n in filters.get("name")):
                continue
            if "driver" in filters and v.driver not in filters.get("driver"):
                continue
            if "label" in filters and not filters.match_labels("label", dict(v.labels)):
                continue
            out.append(v)
        out.sort(key=lambda v: v.name)
        return out

    def remove(self, name: str, *, force: bool = False) -> None:
        try:
            v = self.store.get(name)
        except NotFound:
            if force:
                return
            raise
        users = self.users(v.name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self._unmount_device(v, force=True)
        self.store.remove(v.name)
        self.events.publish("volume", "destroy", v.name, {"driver": "local"})

    def prune(self, filters: Filters) -> tuple[list[str], int]:
        all_volumes = filters.bool_value("all") is True
        removed, reclaimed = [], 0
        for v in self.store.all():
            if self.users(v.name):
                continue
            if not all_volumes and not v.anonymous:
                continue
            if "label" in filters and not filters.match_labels("label", dict(v.labels)):
                continue
            if "label!" in filters and filters.match_labels("label!", dict(v.labels)):
                continue
            size = dir_size(self.store.data_dir(v.name))
            try:
                self.remove(v.name)
            except Conflict:
                continue
            removed.append(v.name)
            reclaimed += size
        return removed, reclaimed

    def usage(self, v: Volume) -> dict[str, int]:
        return {"Size": dir_size(self.store.data_dir(v.name)), "RefCount": len(self.users(v.name))}

    # -- devices (type=tmpfs / o=bind options) ----------------------------------------------------

    def mount(self, name: str) -> str:
        """The host path a container binds for this volume, mounting its device first if it has one."""
        v = self.store.get(name)
        path = str(self.store.data_dir(name))
        if v.options.get("type") or v.options.get("device") or v.options.get("o"):
            if self._mounted.get(name, 0) == 0 and not os.path.ismount(path):
                fstype = v.options.get("type") or "none"
                device = v.options.get("device") or fstype
                data = v.options.get("o", "")
                flags = 0
                opts = [o for o in data.split(",") if o]
                if "bind" in opts or fstype == "none":
                    flags |= linux.MS_BIND
                    opts = [o for o in opts if o not in ("bind", "rbind")]
                try:
                    linux.mount(device, path, None if flags & linux.MS_BIND else fstype, flags, ",".join(opts) or None)
                except OSError as e:
                    raise SystemFailure(
                        f"error while mounting volume '{path}': failed to mount local volume: "
                        f"mount {device}:{path}, data: {data}: {e.strerror}"
                    ) from None
            self._mounted[name] = self._mounted.get(name, 0) + 1
        return path

    def unmount(self, name: str) -> None:
        try:
            v = self.store.get(name)
        except NotFound:
            return
        if name in self._mounted:
            self._mounted[name] -= 1
            if self._mounted[name] <= 0:
                self._unmount_device(v)

    def _unmount_device(self, v: Volume, *, force: bool = False) -> None:
        path = str(self.store.data_dir(v.name))
        if (force or self._mounted.get(v.name, 0) <= 0) and os.path.ismount(path):
            try:
                linux.umount(path, linux.MNT_DETACH)
            except OSError:
                pass
        self._mounted.pop(v.name, None)

    # -- a container's mounts ---------------------------------------------------------------------

    def resolve_mounts(
        self,
        *,
        config: ContainerConfig,
        host_config: HostConfig,
        volumes_from: Callable[[str], list[MountPoint]],
    ) -> list[MountPoint]:
        """Work out a new container's mounts; creates the named and anonymous volumes it needs.

        Raises InvalidArgument with Docker's messages for a bad specification.
        """
        points: dict[str, MountPoint] = {}

        def add(mp: MountPoint, *, replace: bool = False) -> None:
            dest = posixpath.normpath(mp.destination)
            if dest in points and not replace:
                raise InvalidArgument(f"Duplicate mount point: {dest}")
            points[dest] = replace_fields(mp, destination=dest)

        for spec in host_config.volumes_from or ():
            name, _, mode = spec.partition(":")
            if mode not in ("", "ro", "rw"):
                raise InvalidArgument(f"invalid mode: {mode}")
            for mp in volumes_from(name):
                rw = mp.rw if not mode else mode == "rw"
                add(replace_fields(mp, rw=rw, mode=mode or mp.mode), replace=True)
        for bind in host_config.binds or ():
            add(self._parse_bind(bind), replace=True)
        for m in host_config.mounts or ():
            add(self._parse_mount(m), replace=True)
        for dest in config.volumes or ():
            dest = posixpath.normpath(dest)
            if not dest.startswith("/"):
                raise InvalidArgument(
                    f"invalid mount config for type \"volume\": invalid mount path: '{dest}' "
                    "mount path must be absolute"
                )
            if dest in points:
                continue
            v = self.create(None, anonymous=True)
            points[dest] = MountPoint(
                type="volume", destination=dest, source=v.mountpoint, name=v.name, driver="local", mode="", rw=True
            )
        return [points[k] for k in sorted(points, key=lambda d: d.count("/"))]

    def _parse_bind(self, spec: str) -> MountPoint:
        parts = spec.split(":")
        if len(parts) < 2 or len(parts) > 3:
            raise InvalidArgument(f"invalid volume specification: '{spec}'")
        src, dest = parts[0], parts[1]
        mode = parts[2] if len(parts) == 3 else ""
        modes = [m for m in mode.split(",") if m]
        for m in modes:
            if m not in ("ro", "rw", "z", "Z", "nocopy", *_PROPAGATION):
                raise InvalidArgument(f"invalid mode: {mode}")
        if not dest.startswith("/"):
            raise InvalidArgument(
                f"invalid volume specification: '{spec}': invalid mount config for type "
                f"\"{'bind' if src.startswith('/') else 'volume'}\": invalid mount path: '{dest}' "
                "mount path must be absolute"
            )
        if dest == "/":
            raise InvalidArgument(
                f"invalid volume specification: '{spec}': invalid mount config for type \"bind\": "
                "invalid specification: destination can't be '/'"
            )
        rw = "ro" not in modes
        propagation = next((m for m in modes if m in _PROPAGATION), "")
        if src.startswith("/"):
            if not os.path.exists(src):
                # -v creates a missing host directory (--mount does not).
                os.makedirs(src, 0o755, exist_ok=True)
            return MountPoint(
                type="bind",
                destination=dest,
                source=os.path.normpath(src),
                mode=mode,
                rw=rw,
                propagation=propagation or "rprivate",
            )
        if not src:
            raise InvalidArgument(f"invalid volume specification: '{spec}'")
        v = self.create(src)
        return MountPoint(
            type="volume",
            destination=dest,
            source=v.mountpoint,
            name=v.name,
            driver="local",
            mode=mode or "z",
            rw=rw,
            copy_image_data="nocopy" not in modes,
        )

    def _parse_mount(self, m: Mount) -> MountPoint:
        kind = m.type or "volume"
        target = m.target
        source = m.source
        ro = m.read_only
        if not target:
            raise InvalidArgument(f'invalid mount config for type "{kind}": field Target must not be empty')
        if not target.startswith("/"):
            raise InvalidArgument(
                f"invalid mount config for type \"{kind}\": invalid mount path: '{target}' mount path must be absolute"
            )
        if kind == "bind":
            if not source:
                raise InvalidArgument('invalid mount config for type "bind": field Source must not be empty')
            if not os.path.isabs(source):
                raise InvalidArgument(
                    f"invalid mount config for type \"bind\": invalid mount path: '{source}' mount "
                    "path must be absolute"
                )
            if not os.path.exists(source):
                raise InvalidArgument(
                    f'invalid mount config for type "bind": bind source path does not exist: {source}'
                )
            prop = (m.bind_options.propagation if m.bind_options else "") or "rprivate"
            if prop not in _PROPAGATION:
                raise InvalidArgument(f"invalid propagation mode: {prop}")
            return MountPoint(type="bind", destination=target, source=source, rw=not ro, propagation=prop)
        if kind == "volume":
            vo = m.volume_options or VolumeOptions()
            subpath = _clean_subpath(vo.subpath)
            options = vo.driver_config.options if vo.driver_config and vo.driver_config.options else {}
            if source:
                v = self.create(source, options=options, labels=vo.labels or {})
            else:
                v = self.create(None, anonymous=True, options=options, labels=vo.labels or {})
            return MountPoint(
                type="volume",
                destination=target,
                source=v.mountpoint,
                name=v.name,
                driver="local",
                mode="z",
                rw=not ro,
                copy_image_data=not vo.no_copy and not subpath,
                subpath=subpath,
            )
        if kind == "tmpfs":
            if source:
                raise InvalidArgument('invalid mount config for type "tmpfs": field Source must not be specified')
            to = m.tmpfs_options or TmpfsOptions()
            return MountPoint(
                type="tmpfs", destination=target, rw=not ro, tmpfs_options={"size": to.size_bytes, "mode": to.mode}
            )
        raise InvalidArgument(f'mount type unknown: "{kind}"')

    def oci_mounts(self, mounts: list[MountPoint]) -> list[dict[str, Any]]:
        """The spec's mounts for a container about to start (volume devices mounted)."""
        out: list[dict[str, Any]] = []
        for mp in mounts:
            if mp.type == "tmpfs":
                opts = ["nosuid", "nodev"]
                if mp.tmpfs_options.get("size"):
                    opts.append(f"size={mp.tmpfs_options['size']}")
                if mp.tmpfs_options.get("mode"):
                    opts.append(f"mode={mp.tmpfs_options['mode']:o}")
                if not mp.rw:
                    opts.append("ro")
                out.append({"destination": mp.destination, "type": "tmpfs", "source": "tmpfs", "options": opts})
                continue
            source = self.mount(mp.name) if mp.type == "volume" else mp.source
            if mp.subpath:
                source = _inside(source, mp.subpath)
            opts = ["rbind", mp.propagation or "rprivate"]
            if not mp.rw:
                opts.append("ro")
            out.append({"destination": mp.destination, "type": "bind", "source": source, "options": opts})
        return out


def _clean_subpath(subpath: str) -> str:
    """A volume subpath as given (API 1.45). Raises InvalidArgument in moby's words."""
    if not subpath:
        return ""
    if subpath.startswith("/"):
        raise InvalidArgument("subpath must be a relative path within the volume")
    if ".." in subpath.split("/"):
        raise InvalidArgument("subpath must not contain '..' elements")
    return posixpath.normpath(subpath)


def _inside(volume_dir: str, subpath: str) -> str:
    """The directory ``subpath`` names in a volume, symlinks resolved inside the volume (a
    container that made ``sub -> /etc`` gets the volume's ``etc``, never the host's). Raises
    InvalidArgument when it does not exist, as dockerd's safepath does."""
    path = secure_join(volume_dir, subpath)
    if not os.path.exists(path):
        raise InvalidArgument(f"cannot access path {path}: no such file or directory")
    return path


def _validate_options(opts: Mapping[str, str]) -> None:
    for k in opts:
        if k not in ("type", "device", "o", "size"):
            raise InvalidArgument(f'invalid option: "{k}"')
    if opts.get("type") and not opts.get("device") and opts.get("type") not in ("tmpfs",):
        raise InvalidArgument('missing required option: "device"')
