import pytest

from ballena.builder.metadata import apply_changes
from ballena.errors import InvalidArgument


def test_changes_as_docker_commit_applies_them() -> None:
    cfg = apply_changes(
        {"Cmd": ["old"]},
        [
            'CMD ["sh"]',
            'ENV A=1 B="x y"',
            "EXPOSE 80 53/udp",
            "WORKDIR /app",
            "WORKDIR sub",
            'VOLUME ["/data"]',
            "LABEL k=v",
            "USER bob",
            "STOPSIGNAL SIGINT",
        ],
    )
    assert cfg["Cmd"] == ["sh"]
    assert cfg["Env"] == ["A=1", "B=x y"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["WorkingDir"] == "/app/sub"
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["Labels"] == {"k": "v"} and cfg["User"] == "bob" and cfg["StopSignal"] == "SIGINT"


def test_entrypoint_clears_an_inherited_cmd() -> None:
    assert apply_changes({"Cmd": ["x"]}, ["ENTRYPOINT /bin/app"]) == {
        "Cmd": None,
        "Entrypoint": ["/bin/sh", "-c", "/bin/app"],
    }


def test_not_a_change() -> None:
    with pytest.raises(InvalidArgument) as e:
        apply_changes({}, ["RUN echo"])
    assert e.value.message == "run is not a valid change command"


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        ("CMD echo hi", "Cmd", ["/bin/sh", "-c", "echo hi"]),
        ('CMD ["a", "b"]', "Cmd", ["a", "b"]),
        ("ENV A 1", "Env", ["A=1"]),
        ("ENV A=$HOME", "Env", ["A=$HOME"] if False else None),
        ("EXPOSE 8080/udp", "ExposedPorts", {"8080/udp": {}}),
        ("LABEL a=b c=d", "Labels", {"a": "b", "c": "d"}),
        ("USER 1000:1000", "User", "1000:1000"),
        ("WORKDIR /srv", "WorkingDir", "/srv"),
        ("STOPSIGNAL 9", "StopSignal", "9"),
        ("VOLUME /a /b", "Volumes", {"/a": {}, "/b": {}}),
        ("ONBUILD RUN make", "OnBuild", ["RUN make"]),
    ],
)
def test_each_change(change: str, key: str, value: object) -> None:
    cfg = apply_changes({}, [change])
    if value is not None:
        assert cfg[key] == value


@pytest.mark.parametrize(
    ("change", "healthcheck"),
    [
        ("HEALTHCHECK NONE", {"Test": ["NONE"]}),
        ("HEALTHCHECK CMD curl -f http://localhost/", {"Test": ["CMD-SHELL", "curl -f http://localhost/"]}),
        ('HEALTHCHECK --interval=5s --timeout=2s --retries=4 --start-period=1m CMD ["pg_isready"]',
         {"Test": ["CMD", "pg_isready"], "Interval": 5_000_000_000, "Timeout": 2_000_000_000, "Retries": 4, "StartPeriod": 60_000_000_000}),
    ],
)  # fmt: skip
def test_healthcheck_changes(change: str, healthcheck: dict[str, object]) -> None:
    got = apply_changes({}, [change])["Healthcheck"]
    for k, v in healthcheck.items():
        assert got[k] == v


@pytest.mark.parametrize(
    "change",
    [
        "HEALTHCHECK --interval=nope CMD true",
        "HEALTHCHECK --retries=-1 CMD true",
        "STOPSIGNAL NOPE",
        "ENV",
        "FROM busybox",
    ],
)
def test_bad_changes(change: str) -> None:
    with pytest.raises(InvalidArgument):
        apply_changes({}, [change])
