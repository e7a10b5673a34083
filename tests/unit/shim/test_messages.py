import dataclasses

import pytest

from ballena.shim import messages as m

REQUESTS = [
    m.Hello(role="request"),
    m.Start(),
    m.Cancel(),
    m.Attach(stdout=True, stderr=False, stdin=True),
    m.CloseStdin(),
    m.Kill(signal=15, all=True),
    m.Resize(height=40, width=120),
    m.Exec(id="e", process={"args": ["sh"]}, stdin=True, console_size=[24, 80]),
    m.GetState(),
    m.Update(resources={"pids": {"limit": 5}}),
    m.Pause(),
    m.Resume(),
    m.GetHealth(),
]
EVENTS = [
    m.Created(pid=7),
    m.Started(pid=8),
    m.Failed(message="boom", exit_code=127),
    m.Exited(exit_code=3, oom_killed=True, finished_at=123),
    m.State(status="running", pid=9, paused=True, exit=None),
    m.ExecStarted(pid=10),
    m.ExecFailed(message="nope", exit_code=126),
    m.ExecExited(exit_code=0),
    m.Reply(error="no", kind="Conflict"),
    m.HealthReport(health={"Status": "healthy"}),
]


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r.OP)
def test_every_request_round_trips(req: m.Request) -> None:
    obj = m.encode(req)
    assert obj["op"] == req.OP
    assert m.decode_request(obj) == req


@pytest.mark.parametrize("ev", EVENTS, ids=lambda e: e.EVENT)
def test_every_event_round_trips(ev: m.Event) -> None:
    obj = m.encode(ev)
    assert obj["event"] == ev.EVENT
    assert m.decode_event(obj) == ev


def test_names_are_unique() -> None:
    assert len({r.OP for r in REQUESTS}) == len(REQUESTS)
    assert len({e.EVENT for e in EVENTS}) == len(EVENTS)


@pytest.mark.parametrize(
    "obj",
    [{"op": "nope"}, {"op": 3}, {}, {"op": "kill", "signal": 9, "unexpected": 1}],
    ids=["unknown", "number", "none", "extra"],
)
def test_unknown_requests_are_ignored_and_extra_fields_dropped(obj: dict[str, object]) -> None:
    got = m.decode_request(obj)
    if obj.get("op") == "kill":
        assert got == m.Kill(signal=9)
    else:
        assert got is None


def test_messages_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.Kill().signal = 1  # type: ignore[misc]
