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
