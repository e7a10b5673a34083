"""The event bus: a bounded history plus live subscribers, filtered as Docker filters them."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Mapping

from ballena.core.events import Event
from ballena.pkg.filters import Filters
from ballena.pkg.timeutil import now_ns

HISTORY = 1024
ACCEPTED_FILTERS = frozenset(
    {
        "container",
        "event",
        "image",
        "label",
        "type",
        "network",
        "volume",
        "daemon",
        "scope",
        "plugin",
        "node",
        "service",
        "secret",
        "config",
    }
)


class EventBus:
    def __init__(self) -> None:
        self._history: collections.deque[Event] = collections.deque(maxlen=HISTORY)
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def listeners(self) -> int:
        return len(self._subscribers)

    def publish(self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None) -> Event:
        """Record an event. Safe to call from worker threads."""
        ev = Event(type=type_, action=action, actor_id=actor_id, attributes=dict(attributes or {}), time_ns=now_ns())
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop:
            loop.call_soon_threadsafe(self._deliver, ev)
        else:
            self._deliver(ev)
        return ev

    def _deliver(self, ev: Event) -> None:
        self._history.append(ev)
        for q in self._subscribers:
            q.put_nowait(ev)

    async def subscribe(self, *, since_ns: int | None, until_ns: int | None, filters: Filters) -> AsyncIterator[Event]:
        """Past events from ``since`` then live ones, until ``until`` (or forever)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            if since_ns is not None or until_ns is not None:
                for ev in list(self._history):
                    if (
                        ev.time_ns >= (since_ns or 0)
                        and (until_ns is None or ev.time_ns <= until_ns)
                        and matches(ev, filters)
                    ):
                        yield ev
            if until_ns is not None and until_ns <= now_ns():
                return
            while True:
                if until_ns is not None:
                    timeout = (until_ns - now_ns()) / 1e9
                    if timeout <= 0:
                        return
                    try:
                        ev = await asyncio.wait_for(queue.get(), timeout)
                    except TimeoutError:
                        return
                else:
                    ev = await queue.get()
                if since_ns is not None and ev.time_ns < since_ns:
                    continue
                if until_ns is not None and ev.time_ns > until_ns:
                    return
                if matches(ev, filters):
                    yield ev
        finally:
            self._subscribers.discard(queue)


def matches(ev: Event, f: Filters) -> bool:
    if not f.exact("type", ev.type):
        return False
    if "event" in f:
        action = ev.action.split(":", 1)[0]
        if ev.action not in f.get("event") and action not in f.get("event"):
            return False
    if "scope" in f and ev.scope not in f.get("scope"):
        return False
    labels = {k: v for k, v in ev.attributes.items()}
    if "label" in f and not f.match_labels("label", labels):
        return False
    name = ev.attributes.get("name", "")
    for key, kind in (("container", "container"), ("network", "network"), ("volume", "volume"), ("daemon", "daemon")):
        if key in f:
            if ev.type != kind:
                return False
            if not any(v in (ev.actor_id, name) or (len(v) >= 1 and ev.actor_id.startswith(v)) for v in f.get(key)):
                return False
    if "image" in f:
        image = ev.attributes.get("image", "")
        candidates = {ev.actor_id, name, image}
        if ev.type == "image":
            candidates.add(ev.actor_id)
        ok = False
        for v in f.get("image"):
            if v in candidates or (":" not in v and any(c.split(":")[0] == v for c in candidates if c)):
                ok = True
        if not ok:
            return False
    return True


def to_wire(ev: Event) -> dict[str, object]:
    """Docker's JSON for an event, with the legacy status/id/from fields old clients read."""
    out: dict[str, object] = {}
    if ev.type in ("container", "image"):
        out["status"] = ev.action
        out["id"] = ev.actor_id
        if ev.type == "container" and "image" in ev.attributes:
            out["from"] = ev.attributes["image"]
    out.update(
        {
            "Type": ev.type,
            "Action": ev.action,
            "Actor": {"ID": ev.actor_id, "Attributes": dict(ev.attributes)},
            "scope": ev.scope,
            "time": ev.time_ns // 10**9,
            "timeNano": ev.time_ns,
        }
    )
    return out
