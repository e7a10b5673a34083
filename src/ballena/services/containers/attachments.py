"""``docker network connect`` and ``disconnect``: a container's networks changed while it
exists, and at once while it runs (interfaces, the embedded DNS and its resolv.conf)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from ballena.core.containerconfig import EndpointSettings
from ballena.core.networks import Network
from ballena.errors import InvalidArgument
from ballena.services.containers.etcfiles import EtcFiles
from ballena.services.containers.locks import ContainerLocks
from ballena.services.containers.queries import ContainerQueries
from ballena.services.sandboxes import Sandboxes
from ballena.stores.containers import ContainerStore

__all__ = ["NetworkAttachments"]


class NetworkAttachments:
    def __init__(
        self,
        *,
        store: ContainerStore,
        queries: ContainerQueries,
        sandboxes: Sandboxes | None,
        etc: EtcFiles,
        locks: ContainerLocks,
    ) -> None:
        self.store = store
        self.queries = queries
        self.sandboxes = sandboxes
        self.etc = etc
        self._lock = locks

    async def connect(self, ref: str, net_ref: str, cfg: EndpointSettings) -> None:
        """``docker network connect``: a running container is wired at once, and switches to
        the embedded DNS when this is its first user network. Raises NotFound, InvalidArgument,
        Forbidden, Conflict."""
        sandboxes, cid, n = self._find(ref, net_ref)
        async with self._lock(cid):
            c = self.store.get(cid)
            c = replace(c, networks=await sandboxes.connect(c, n, cfg))
            self.store.save(c)
            if c.state.running:
                await sandboxes.ensure_dns(c)
                await asyncio.to_thread(self.etc.refresh_resolv_conf, c)

    async def disconnect(self, ref: str, net_ref: str, *, force: bool = False) -> None:
        """``docker network disconnect``. Raises NotFound, Forbidden (not connected, unless
        ``force``)."""
        sandboxes, cid, n = self._find(ref, net_ref)
        async with self._lock(cid):
            c = self.store.get(cid)
            self.store.save(replace(c, networks=await sandboxes.disconnect(c, n, force=force)))

    def _find(self, ref: str, net_ref: str) -> tuple[Sandboxes, str, Network]:
        if self.sandboxes is None:
            raise InvalidArgument("networking is not available")
        return self.sandboxes, self.queries.get(ref).id, self.sandboxes.network(net_ref)
