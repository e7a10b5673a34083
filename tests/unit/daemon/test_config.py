import json
from pathlib import Path

import pytest

from ballena.daemon.config import load
from ballena.errors import InvalidArgument


def test_defaults() -> None:
    cfg, _ = load([])
    assert cfg.hosts == ("unix:///run/ballena/ballena.sock",) and cfg.bridge == "ballena0" and cfg.live_restore
    assert cfg.default_runtime == "ballena" and cfg.log_driver == "json-file"


def test_flags() -> None:
    cfg, _ = load(["-H", "unix:///tmp/x.sock", "-H", "tcp://127.0.0.1:2375", "--dns", "1.1.1.1", "--bridge", "br9",
                   "--log-opt", "max-size=1m", "--add-runtime", "crun=/usr/bin/crun", "--data-root", "/tmp/d"])  # fmt: skip
    assert cfg.hosts == ("unix:///tmp/x.sock", "tcp://127.0.0.1:2375") and cfg.dns == ("1.1.1.1",)
    assert cfg.bridge == "br9" and cfg.log_opts == {"max-size": "1m"} and cfg.runtimes["crun"].path == "/usr/bin/crun"
    assert cfg.data_root == Path("/tmp/d")


def test_daemon_json(tmp_path: Path) -> None:
    f = tmp_path / "daemon.json"
    f.write_text(
        json.dumps({"dns": ["9.9.9.9"], "runtimes": {"x": {"path": "/x", "runtimeArgs": ["--a"]}}, "debug": True})
    )
    cfg, _ = load(["--config-file", str(f)])
    assert cfg.dns == ("9.9.9.9",) and cfg.runtimes["x"].args == ("--a",) and cfg.debug


@pytest.mark.parametrize(
    ("content", "flags", "message"),
    [
        ('{"nope": 1}', [], "the following directives don't match any configuration option: nope"),
        ('{"dns": ["1.1.1.1"]}', ["--dns", "8.8.8.8"], "the following directives are specified both as a flag and in the configuration file"),
        ("{bad", [], "unable to configure the daemon with file"),
        ('{"runtimes": {"x": {}}}', [], "runtime x: a path is required"),
        ('{"default-runtime": "kata"}', [], "default runtime kata is not configured"),
        ('{"bridge": "a-very-long-bridge-name"}', [], "invalid bridge name"),
        ("{}", ["-H", "tcp://0.0.0.0:2375"], "refusing to serve the API on tcp://0.0.0.0:2375 without TLS"),
        ("{}", ["-H", "tcp://127.0.0.1"], "invalid TCP address tcp://127.0.0.1: a port is required"),
        ("{}", ["-H", "fd://"], "fd:// socket activation is not supported"),
        ("{}", ["-H", "http://x"], "invalid daemon host 'http://x'"),
    ],
)  # fmt: skip
def test_refusals(tmp_path: Path, content: str, flags: list[str], message: str) -> None:
    f = tmp_path / "daemon.json"
    f.write_text(content)
    with pytest.raises(InvalidArgument) as e:
        load(["--config-file", str(f), *flags])
    assert e.value.message.startswith(message)


def test_a_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        load(["--config-file", str(tmp_path / "none.json")])


def test_plain_tcp_is_accepted_on_loopback_or_when_asked_for() -> None:
    assert load(["-H", "tcp://127.0.0.1:2375"])[0].hosts == ("tcp://127.0.0.1:2375",)
    assert load(["-H", "tcp://0.0.0.0:2375", "--tls=false"])[0].insecure_tcp


def test_the_offline_library_setting(tmp_path: Path) -> None:
    assert load([])[0].offline_library
    assert not load(["--offline-library=false"])[0].offline_library
    f = tmp_path / "daemon.json"
    f.write_text('{"offline-library": false}')
    assert not load(["--config-file", str(f)])[0].offline_library
