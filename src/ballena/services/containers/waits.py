"""``docker wait``: futures for the conditions ``not-running``, ``next-exit`` and ``removed``,
resolved with ``{"StatusCode", "Error"}`` when the container exits, fails to start, or goes.

A waiter is registered before the request is answered: the docker CLI starts the container as
soon as its wait request has been answered, so a later registration could miss the exit.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ballena.core.containers import Container
from ballena.errors import InvalidArgument

__all__ = ["CONDITIONS", "Waiters"]

CONDITIONS = ("not-running", "next-exit", "removed", "")


class Waiters:
    def __init__(self) -> None:
        self._waiting: dict[str, list[tuple[str, asyncio.Future[dict[str, Any]]]]] = {}

    def register(self, c: Container, condition: str = "not-running") -> asyncio.Future[dict[str, Any]]:
        """A future for ``condition`` on ``c``; already done for ``not-running`` when it is not
        running. Raises InvalidArgument for an unknown condition."""
        if condition not in CONDITIONS:
            raise InvalidArgument(f'invalid condition: "{condition}"')
        condition = condition or "not-running"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not c.state.running:
            fut.set_result({"StatusCode": c.state.exit_code, "Error": None})
            return fut
        self._waiting.setdefault(c.id, []).append((condition, fut))
        return fut

    def notify(self, c: Container, result: dict[str, Any], *, exited: bool, removed: bool = False) -> None:
        """The container exited (``exited``), failed to start (neither), or was removed."""
        keep = []
        for cond, fut in self._waiting.pop(c.id, []):
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
            self._waiting[c.id] = keep
