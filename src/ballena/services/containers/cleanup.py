"""What goes when a container stops or is removed, and how: its runtime state directory, its
writable snapshot, its record directory, its anonymous volumes.

Directories are first renamed out of the way (the container is gone as soon as that is done;
a daemon restarted meanwhile deletes the leftovers) and deleted on a thread afterwards, so a
client never waits for a big tree to be unlinked.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from ballena.core.containers import Container
from ballena.errors import Conflict, NotFound
from ballena.services.containers.layout import Paths
from ballena.services.containers.queries import ContainerQueries
from ballena.services.containers.supervision import Supervisor, is_mountpoint
from ballena.services.volumes import VolumeService
from ballena.stores.containers import ContainerStore
from ballena.stores.images import ImageStore

__all__ = ["Cleanup"]


class Cleanup:
    def __init__(
        self,
        *,
        store: ContainerStore,
        images: ImageStore,
        paths: Paths,
        supervisor: Supervisor,
        queries: ContainerQueries,
        volumes: VolumeService | None,
    ) -> None:
        self.store = store
        self.images = images
        self.paths = paths
        self.supervisor = supervisor
        self.queries = queries
        self.volumes = volumes

    def remove_files(self, c: Container, *, volumes: bool) -> list[Path]:
        """Remove what the container owns (with ``volumes``, or ``--rm``, its anonymous
        volumes); returns the renamed-away directories still to delete (``discard``).
        Blocking."""
        self.supervisor.sweep_lost_monitor(c)
        trash = self.rename_state_dir(c.id)
        if self.images.snapshots.exists(c.id):
            trash += filter(None, [self.images.snapshots.remove(c.id, defer=True)])
        trash += filter(None, [self.store.delete(c.id, defer=True)])
        if self.volumes is not None and (volumes or c.host_config.auto_remove):
            for m in c.mounts:  # only the anonymous volumes it made; named ones outlive it
                if m.type != "volume" or not m.name:
                    continue
                try:
                    v = self.volumes.get(m.name)
                except NotFound:
                    continue
                if v.anonymous and not self.queries.users_of_volume(v.name):
                    try:
                        self.volumes.remove(v.name)
                    except Conflict:
                        pass
        return trash

    def release_state_dir(self, cid: str) -> None:
        """The container no longer runs: its state directory goes (unless a monitor still
        has the root filesystem mounted there: then that monitor is not done)."""
        if not is_mountpoint(self.paths.state_dir(cid) / "rootfs"):
            self.discard(self.rename_state_dir(cid))

    def rename_state_dir(self, cid: str) -> list[Path]:
        """Move the container's state directory out of the way (to delete later)."""
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

    @staticmethod
    def discard(trash: list[Path]) -> None:
        """Delete renamed-away directories on a thread, after the client has its answer."""
        if trash:
            asyncio.get_running_loop().run_in_executor(None, _rmtree_all, trash)


def _rmtree_all(paths: list[Path]) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)
