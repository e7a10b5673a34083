import asyncio
from dataclasses import replace

import pytest

from ballena.core.containerconfig import ContainerConfig, HostConfig, RestartPolicy
from ballena.core.containers import Container, State
from ballena.services.containers.restarts import Restarts, backoff, should_restart


def _c(
    policy: str, *, code: int = 1, count: int = 0, stopped: bool = False, retries: int = 0, ran: float = 1
) -> Container:
    return Container(
        id="c",
        name="c",
        created_ns=0,
        image="i",
        image_id="i",
        path="sh",
        args=(),
        config=ContainerConfig(),
        host_config=HostConfig(restart_policy=RestartPolicy(name=policy, maximum_retry_count=retries)),
        state=State(status="exited", exit_code=code, started_at_ns=1, finished_at_ns=1 + int(ran * 1e9)),
        restart_count=count,
        manually_stopped=stopped,
    )


@pytest.mark.parametrize(
    ("c", "expected"),
    [
        (_c("no"), False),
        (_c(""), False),
        (_c("always", code=0), True),
        (_c("always", stopped=True), False),
        (_c("unless-stopped"), True),
        (_c("on-failure", code=0), False),
        (_c("on-failure", code=2), True),
        (_c("on-failure", code=2, retries=3, count=2), True),
        (_c("on-failure", code=2, retries=3, count=3), False),
    ],
)
def test_should_restart(c: Container, expected: bool) -> None:
    assert should_restart(c) is expected


@pytest.mark.parametrize(
    ("count", "ran", "delay"), [(1, 1, 0.1), (2, 1, 0.2), (4, 1, 0.8), (30, 1, 60.0), (9, 12, 0.1)]
)
def test_backoff_doubles_up_to_a_minute_and_a_long_run_resets_it(count: int, ran: float, delay: float) -> None:
    assert backoff(_c("always", count=count, ran=ran)) == pytest.approx(delay)


def test_restarts_fire_once_and_can_be_cancelled() -> None:
    async def case() -> None:
        fired: list[str] = []

        async def restart(cid: str) -> None:
            fired.append(cid)

        r = Restarts(restart=restart)
        c = _c("always", count=1)
        r.schedule(c)
        r.schedule(replace(c, id="d"))
        r.cancel("d")
        await asyncio.sleep(0.25)
        assert fired == ["c"]
        r.schedule(c)
        r.cancel_all()
        await asyncio.sleep(0.15)
        assert fired == ["c"]

    asyncio.run(case())
