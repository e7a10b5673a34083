import asyncio

import pytest

from ballena.pkg.filters import Filters
from ballena.services.events import ACCEPTED_FILTERS, EventBus, matches, to_wire


def _ev(type_: str = "container", action: str = "start", attrs: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    bus = EventBus()
    return bus.publish(type_, action, "a" * 64, {"name": "web", "image": "busybox", **(attrs or {})})


@pytest.mark.parametrize(
    ("filters", "ok"),
    [
        ('{"type":["container"]}', True),
        ('{"type":["image"]}', False),
        ('{"event":["start"]}', True),
        ('{"event":["die"]}', False),
        ('{"container":["web"]}', True),
        ('{"container":["aaaaaaaaaaaa"]}', True),
        ('{"container":["db"]}', False),
        ('{"label":["app=x"]}', True),
        ('{"label":["app=y"]}', False),
        ('{"image":["busybox"]}', True),
    ],
)
def test_filters(filters: str, ok: bool) -> None:
    assert matches(_ev(attrs={"app": "x"}), Filters.parse(filters, accepted=ACCEPTED_FILTERS)) is ok


def test_wire_shape() -> None:
    w = to_wire(_ev(action="die", attrs={"exitCode": "3"}))
    assert w["Type"] == "container" and w["Action"] == "die" and w["status"] == "die"
    assert w["Actor"]["Attributes"]["exitCode"] == "3" and isinstance(w["timeNano"], int)  # type: ignore[index]


def test_subscribers_get_past_and_live_events() -> None:
    async def case() -> None:
        bus = EventBus()
        bus.bind_loop(asyncio.get_running_loop())
        bus.publish("container", "create", "x", {})
        got: list[str] = []

        async def listen() -> None:
            async for ev in bus.subscribe(
                since_ns=0, until_ns=None, filters=Filters.parse("", accepted=ACCEPTED_FILTERS)
            ):
                got.append(ev.action)
                if len(got) == 2:
                    return

        task = asyncio.ensure_future(listen())
        await asyncio.sleep(0.05)
        bus.publish("container", "start", "x", {})
        await asyncio.wait_for(task, 2)
        assert got == ["create", "start"]

    asyncio.run(case())
