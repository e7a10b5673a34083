"""One lock per container, so that two requests never change the same container at once (a
start racing a remove, a connect racing a stop); requests on different containers run freely."""

from __future__ import annotations

import asyncio

__all__ = ["ContainerLocks"]


class ContainerLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def __call__(self, cid: str) -> asyncio.Lock:
        lock = self._locks.get(cid)
        if lock is None:
            lock = self._locks[cid] = asyncio.Lock()
        return lock

    def forget(self, cid: str) -> None:
        """The container is gone: drop its lock (so the table does not grow forever)."""
        self._locks.pop(cid, None)
