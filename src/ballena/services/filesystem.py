"""A container's filesystem: ``cp`` (the archive endpoints), ``export``, ``diff`` and ``commit``.

``cp`` and ``export`` run in a helper process (``shim.fsops``) that sees the container's files
from inside; ``diff`` and ``commit`` read the container's writable layer directly, so they need
no mount at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ballena.builder.metadata import apply_changes
from ballena.core.containers import Container
from ballena.core.images import Layer
from ballena.errors import BallenaError, InvalidArgument, SystemFailure, from_kind
from ballena.pkg import archive, records, reference
from ballena.pkg.httpbody import HandedBody
from ballena.pkg.platforms import go_arch
from ballena.pkg.timeutil import now_ns, rfc3339nano
from ballena.services.containers import ContainerEvents, ContainerQueries, Paths, Supervisor
from ballena.services.events import EventBus
from ballena.services.volumes import VolumeService
from ballena.shim.channel import Channel
from ballena.shim.config import FileHelperConfig, OciMount, RootfsMount
from ballena.shim.spawner import Zygote
from ballena.stores.images import ImageStore

log = logging.getLogger(__name__)


class FilesystemService:
    def __init__(
        self,
        *,
        queries: ContainerQueries,
        supervisor: Supervisor,
        images: ImageStore,
        paths: Paths,
        volumes: VolumeService | None,
        zygote: Zygote,
        events: EventBus,
    ) -> None:
        self.queries = queries
        self.supervisor = supervisor  # commit --pause freezes through it
        self.images = images
        self.paths = paths
        self.volumes = volumes
        self.zygote = zygote
        self.events = events
        self.container_events = ContainerEvents(events)

    # -- the helper -----------------------------------------------------------------------------

    async def _helper(self, c: Container, op: str, *, pass_fd: int | None = None, **extra: Any) -> Channel:
        snaps = self.images.snapshots
        mountpoint = str(self.paths.helper_mountpoint(c.id, time.monotonic_ns()))
        if op == "export":
            # Read-only overlay of every layer: safe next to the running container's own mount.
            layers = ":".join(str(p) for p in [snaps.upper_dir(c.id), *snaps.lower_dirs(c.id)])
            cfg = FileHelperConfig(
                id=c.id,
                op=op,
                mountpoint=mountpoint,
                rootfs_mounts=(RootfsMount(type="overlay", source="overlay", options=("lowerdir=" + layers,)),),
                **extra,
            )
        elif c.state.running and c.state.pid:
            cfg = FileHelperConfig(id=c.id, op=op, pid=c.state.pid, **extra)
        else:
            mounts = []
            for mp in c.mounts:
                if mp.type == "tmpfs":
                    continue
                source = self.volumes.store.data_dir(mp.name) if (mp.type == "volume" and self.volumes) else mp.source
                mounts.append(
                    OciMount(
                        destination=mp.destination,
                        type="bind",
                        source=str(source),
                        options=("rbind", *(() if mp.rw else ("ro",))),
                    )
                )
            cfg = FileHelperConfig(
                id=c.id,
                op=op,
                mountpoint=mountpoint,
                rootfs_mounts=tuple(
                    RootfsMount(type=m.type, source=m.source, options=tuple(m.options)) for m in snaps.mounts(c.id)
                ),
                mounts=tuple(mounts),
                **extra,
            )
        _pid, channel = await self.zygote.spawn(cfg, pass_fd=pass_fd)
        return channel

    @staticmethod
    async def _result(channel: Channel) -> dict[str, Any]:
        while True:
            msg = await channel.next_json()
            if msg is None:
                raise SystemFailure("the file operation helper exited unexpectedly")
            if msg.get("done") or msg.get("stat") or msg.get("ready"):
                return msg

    @staticmethod
    def _raise(c: Container, msg: dict[str, Any]) -> None:
        if "error" not in msg:
            return
        text = str(msg["error"]).replace(" in container", f" in container {c.name}")
        raise from_kind(str(msg.get("kind") or "SystemFailure"), text)

    # -- cp ---------------------------------------------------------------------------------------

    async def stat(self, ref: str, path: str) -> dict[str, Any]:
        c = self.queries.get(ref)
        if not path:
            raise InvalidArgument("Path cannot be empty")
        conn = await self._helper(c, "stat", path=path)
        try:
            msg = await self._result(conn)
        finally:
            conn.close()
        self._raise(c, msg)
        return dict(msg["stat"])

    async def get_archive(self, ref: str, path: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        """The stat of ``path`` and its tar stream. Raises NotFound before anything streams."""
        c = self.queries.get(ref)
        if not path:
            raise InvalidArgument("Path cannot be empty")
        conn = await self._helper(c, "get", path=path)
        first = await self._result(conn)
        if "stat" not in first:
            conn.close()
            self._raise(c, first)
            raise SystemFailure("unexpected answer from the file helper")

        return first["stat"], _output(conn)

    async def get_archive_to(
        self, ref: str, path: str, fd: int
    ) -> tuple[dict[str, Any], Callable[[], Awaitable[None]]]:
        """As ``get_archive``, the tar written by the helper itself on the client's connection
        ``fd`` (closed here: the helper has its own). Returns the stat and what to call once
        the answer's head is out: it lets the helper write, and returns when it is done."""
        try:
            c = self.queries.get(ref)
            if not path:
                raise InvalidArgument("Path cannot be empty")
            conn = await self._helper(c, "get", pass_fd=fd, path=path, to_client=True)
        finally:
            os.close(fd)
        first = await self._result(conn)
        if "stat" not in first:
            conn.close()
            self._raise(c, first)
            raise SystemFailure("unexpected answer from the file helper")

        async def write_body() -> None:
            try:
                await conn.send({"go": True})
                result = await self._result(conn)
                if "error" in result:  # the answer is out: all the client sees is a cut tar
                    log.warning("docker cp from %s:%s failed: %s", c.name, path, result["error"])
            finally:
                conn.close()

        return first["stat"], write_body

    async def put_archive(
        self,
        ref: str,
        path: str,
        body: AsyncIterator[bytes] | HandedBody,
        *,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> None:
        """Extract the tar archive ``body`` at ``path`` in the container. A ``HandedBody`` is
        read by the helper itself from the client's connection (the daemon copies nothing
        but what it had read already); an iterator is relayed. Raises NotFound, InvalidArgument
        (not a directory, a bad archive), Forbidden (read-only root)."""
        handed = body if isinstance(body, HandedBody) else None
        try:
            c = self.queries.get(ref)
            if not path:
                raise InvalidArgument("Path cannot be empty")
            conn = await self._helper(
                c,
                "put",
                pass_fd=handed.fd if handed else None,
                path=path,
                no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                copy_uid_gid=copy_uid_gid,
                readonly_root=c.host_config.readonly_rootfs,
                body_framing=handed.framing if handed else "",
            )
        finally:
            if handed is not None:
                os.close(handed.fd)  # the helper has its own copy now
        try:
            first = await self._result(conn)
            self._raise(c, first)
            if handed is not None:
                for i in range(0, len(handed.prefix), 1 << 20):
                    await conn.send_stdin(handed.prefix[i : i + (1 << 20)])
            else:
                assert not isinstance(body, HandedBody)
                async for chunk in body:
                    await conn.send_stdin(chunk)
            await conn.send({"end": True})
            result = await self._result(conn)
            self._raise(c, result)
        finally:
            conn.close()

    # -- export -------------------------------------------------------------------------------------

    async def export(self, ref: str) -> AsyncIterator[bytes]:
        c = self.queries.get(ref)
        conn = await self._helper(c, "export")
        first = await self._result(conn)
        if "ready" not in first:
            conn.close()
            self._raise(c, first)
        self.container_events.publish(c, "export")

        return _output(conn)

    # -- diff and commit ----------------------------------------------------------------------------

    def changes(self, ref: str) -> list[archive.Change]:
        c = self.queries.get(ref)
        snaps = self.images.snapshots
        upper = str(snaps.upper_dir(c.id))
        lowers = [str(p) for p in snaps.lower_dirs(c.id)]
        return archive.overlay_changes(upper, lowers)

    async def commit(
        self,
        ref: str,
        *,
        repo: str | None,
        tag: str | None,
        comment: str,
        author: str,
        changes: list[str],
        pause: bool,
        config: dict[str, Any] | None,
    ) -> str:
        c = self.queries.get(ref)
        target = reference.parse_repository_and_tag(repo, tag).tagged_or_latest() if repo else None
        if target is not None and target.digest is not None:
            raise InvalidArgument("cannot commit to digest reference")
        if pause:
            async with self.supervisor.frozen(c):
                image_id = await asyncio.to_thread(self._commit, c, target, comment, author, changes, config)
        else:
            image_id = await asyncio.to_thread(self._commit, c, target, comment, author, changes, config)
        self.container_events.publish(c, "commit", comment=comment, imageID=image_id)
        return image_id

    def _commit(
        self,
        c: Container,
        target: reference.Reference | None,
        comment: str,
        author: str,
        changes: list[str],
        config: dict[str, Any] | None,
    ) -> str:
        images = self.images
        base = images.get(c.image_id)
        upper = images.snapshots.upper_dir(c.id)
        layer = _pack_and_register(images, str(upper), base.top_layer)
        run_config = _commit_config(records.encode(c.config), dict(base.run_config), config or {})
        try:
            run_config = apply_changes(run_config, changes)
        except BallenaError:
            raise
        created = rfc3339nano(now_ns())
        history = list(base.config.get("history") or [])
        history.append(
            {
                "created": created,
                "created_by": " ".join([c.path, *c.args]),
                **({"author": author} if author else {}),
                **({"comment": comment} if comment else {}),
            }
        )
        cfg = {
            "architecture": base.config.get("architecture") or go_arch(),
            **({"author": author} if author else {}),
            **({"comment": comment} if comment else {}),
            "config": run_config,
            "container": c.id,
            "created": created,
            "history": history,
            "os": base.config.get("os") or "linux",
            "rootfs": {"type": "layers", "diff_ids": [*base.config["rootfs"]["diff_ids"], layer.diff_id]},
        }
        image_id = images.put_image(json.dumps(cfg, separators=(",", ":")).encode(), parent=base.id)
        if target is not None:
            images.tag(target, image_id)
            self.events.publish("image", "tag", image_id, {"name": target.familiar()})
        return image_id


def _commit_config(container: dict[str, Any], image: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """The new image's config: the container's (which already merged the image's), minus what
    belongs to one run, plus the client's overrides (moby's commit merge)."""
    out = dict(container)
    for k in (
        "Hostname",
        "Domainname",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "OpenStdin",
        "StdinOnce",
        "Tty",
        "Image",
        "MacAddress",
        "NetworkDisabled",
        "StopTimeout",
    ):
        out.pop(k, None)
    if container.get("Hostname"):
        out["Hostname"] = container["Hostname"]
    for k, v in override.items():
        if v not in (None, "", [], {}):
            out[k] = v
    if not out.get("Labels"):
        out["Labels"] = None
    if not out.get("Volumes"):
        out["Volumes"] = None
    if not out.get("ExposedPorts"):
        out.pop("ExposedPorts", None)
    del image
    return out


__all__ = ["FilesystemService"]


async def _output(channel: Channel) -> AsyncIterator[bytes]:
    """The bytes a file helper sends (a tar) until its final message, which may be an error."""
    try:
        async for item in channel.frames():
            if isinstance(item, tuple):
                if item[0] == 1:
                    yield item[1]
            elif isinstance(item, dict) and item.get("done"):
                if "error" in item:
                    raise SystemFailure(str(item["error"]))
                return
    finally:
        channel.close()


def _pack_and_register(images: ImageStore, upper: str, parent_chain: str | None) -> Layer:
    """Tar the container's changes into a blob while the same changes are copied into the new
    layer's directory (``archive.write_layer_from_upper``'s mirror): nothing is unpacked again.
    The layer's diff ID is the blob's digest (an uncompressed tar). Blocking."""
    key = f"extract-{secrets.token_hex(8)}"  # swept at start-up if we die half-way
    images.snapshots.prepare(key, parent_chain)
    try:
        with images.content.writer() as blob:
            mirror = str(images.snapshots.upper_dir(key))
            size = archive.write_layer_from_upper(upper, blob, mirror=mirror)  # type: ignore[arg-type]
            digest = str(blob.commit())
        return images.register_layer_from_snapshot(
            key, diff_id=digest, blob=digest, size=size, parent_chain=parent_chain
        )
    except BaseException:
        if images.snapshots.exists(key):
            images.snapshots.remove(key)
        raise
