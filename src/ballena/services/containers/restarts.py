"""Restart policies (``--restart``): whether a container that exited starts again, and when.

Docker's back-off: 100 ms, doubling at each restart up to a minute; a run of ten seconds or
more starts the count over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ballena.core.containers import Container
from ballena.errors import BallenaError, NotFound

__all__ = ["Restarts", "backoff", "should_restart"]

log = logging.getLogger("ballena.containers")


def should_restart(c: Container) -> bool:
    """Whether the policy restarts ``c``, which just exited (a stop by hand never does)."""
    policy = c.host_config.restart_policy
    name = policy.name or "no"
    if c.manually_stopped or name == "no":
        return False
    if name == "on-failure":
        if c.state.exit_code == 0:
            return False
        limit = policy.maximum_retry_count
        return limit == 0 or c.restart_count < limit
    return name in ("always", "unless-stopped")


def backoff(c: Container) -> float:
    """Seconds to wait before the next restart of ``c``, its ``restart_count`` counting the
    restarts before this one."""
    ran = (c.state.finished_at_ns - c.state.started_at_ns) / 1e9 if c.state.started_at_ns else 0
    count = 0 if ran >= 10 else max(c.restart_count - 1, 0)
    return min(0.1 * (2**count), 60.0)


class Restarts:
    """The pending restarts, one timer per container."""

    def __init__(self, *, restart: Callable[[str], Awaitable[None]]) -> None:
        self.restart = restart  # Lifecycle's: start it again unless stopped meanwhile
        self._pending: dict[str, asyncio.Task[None]] = {}

    def schedule(self, c: Container) -> None:
        """Restart ``c`` (already marked restarting, its count raised) after its back-off."""
        delay = backoff(c)

        async def later() -> None:
            await asyncio.sleep(delay)
            try:
                await self.restart(c.id)
            except NotFound:
                pass
            except BallenaError as e:
                log.warning("restarting %s failed: %s", c.name, e.message)
            finally:
                self._pending.pop(c.id, None)

        self.cancel(c.id)
        self._pending[c.id] = asyncio.ensure_future(later())

    def cancel(self, cid: str) -> None:
        task = self._pending.pop(cid, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for cid in list(self._pending):
            self.cancel(cid)
