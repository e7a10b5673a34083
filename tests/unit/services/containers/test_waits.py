import asyncio

import pytest

from ballena.core.containerconfig import ContainerConfig, HostConfig
from ballena.core.containers import Container, State
from ballena.errors import InvalidArgument
from ballena.services.containers.waits import Waiters


def _c(status: str, code: int = 0) -> Container:
    return Container(
        id="c", name="c", created_ns=0, image="i", image_id="i", path="sh", args=(), config=ContainerConfig(),
        host_config=HostConfig(), state=State(status=status, exit_code=code),
    )  # fmt: skip


def test_not_running_is_done_at_once_for_a_stopped_container() -> None:
    async def case() -> None:
        fut = Waiters().register(_c("exited", 3))
        assert fut.done() and fut.result() == {"StatusCode": 3, "Error": None}

    asyncio.run(case())


def test_conditions_resolve_as_docker_says() -> None:
    async def case() -> None:
        w = Waiters()
        running = _c("running")
        futs = {cond: w.register(running, cond) for cond in ("not-running", "next-exit", "removed")}
        w.notify(_c("exited", 1), {"StatusCode": 1, "Error": None}, exited=True)
        assert futs["not-running"].done() and futs["next-exit"].done() and not futs["removed"].done()
        w.notify(_c("exited", 1), {"StatusCode": 1, "Error": None}, exited=True, removed=True)
        assert futs["removed"].result()["StatusCode"] == 1

    asyncio.run(case())


def test_a_failed_start_releases_even_removed_waiters() -> None:
    async def case() -> None:
        w = Waiters()
        fut = w.register(_c("created"), "removed")
        w.notify(_c("created", 127), {"StatusCode": 127, "Error": None}, exited=False)
        assert fut.result()["StatusCode"] == 127

    asyncio.run(case())


def test_unknown_condition() -> None:
    async def case() -> None:
        with pytest.raises(InvalidArgument) as e:
            Waiters().register(_c("running"), "sometime")
        assert e.value.message == 'invalid condition: "sometime"'

    asyncio.run(case())
