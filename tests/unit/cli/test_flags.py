"""The CLI's flags behave like the docker CLI's (pflag): combined shorts, ``--x=y``, ``--``,
interspersed arguments, and pflag's error words."""

from __future__ import annotations

import pytest

from ballena.cli.flags import FlagError, FlagSet


def _run_flags() -> FlagSet:
    fs = FlagSet("run", "docker run [OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False, min_args=1)
    fs.bool("detach", "d")
    fs.bool("interactive", "i")
    fs.bool("tty", "t")
    fs.bool("rm")
    fs.str("name")
    fs.list("env", "e")
    fs.int("cpu-shares", "c")
    fs.float("cpus")
    return fs


@pytest.mark.parametrize(
    ("argv", "checks"),
    [
        (["-dit", "busybox"], {"detach": True, "interactive": True, "tty": True}),
        (["--rm", "--name=web", "busybox", "sh"], {"rm": True, "name": "web"}),
        (["--name", "web", "busybox"], {"name": "web"}),
        (["-e", "A=1", "--env", "B=2", "-eC=3", "busybox"], {"env": ["A=1", "B=2", "C=3"]}),
        (["--cpu-shares", "0x10", "busybox"], {"cpu_shares": 16}),
        (["--cpus", "1.5", "busybox"], {"cpus": 1.5}),
        (["--rm=false", "busybox"], {"rm": False}),
    ],
)
def test_parsing(argv: list[str], checks: dict[str, object]) -> None:
    v = _run_flags().parse(argv)
    for k, expected in checks.items():
        assert getattr(v, k) == expected


def test_the_command_after_the_image_keeps_its_flags() -> None:
    v = _run_flags().parse(["-d", "busybox", "sh", "-c", "echo --rm"])
    assert v.args == ["busybox", "sh", "-c", "echo --rm"] and v.detach and not v.rm


def test_double_dash_ends_flags() -> None:
    fs = FlagSet("x", "x", interspersed=True)
    fs.bool("force", "f")
    v = fs.parse(["--", "-f"])
    assert v.args == ["-f"] and not v.force


def test_given_tells_set_from_default() -> None:
    v = _run_flags().parse(["--rm=false", "busybox"])
    assert v.given("rm") and not v.given("detach")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nope", "busybox"], "unknown flag: --nope"),
        (["-z", "busybox"], "unknown shorthand flag: 'z' in -z"),
        (["--cpu-shares", "x", "busybox"], 'invalid argument "x" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "x": invalid syntax'),
        (["--rm=maybe", "busybox"], 'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": invalid syntax'),
        (["--cpus", "lots", "busybox"], 'invalid argument "lots" for "--cpus" flag: strconv.ParseFloat: parsing "lots": invalid syntax'),
        (["--name"], "flag needs an argument: --name"),
    ],
)  # fmt: skip
def test_errors_in_pflags_words(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError) as e:
        _run_flags().parse(argv)
    assert message in str(e.value)


def test_too_few_arguments() -> None:
    with pytest.raises(FlagError) as e:
        _run_flags().parse(["-d"])
    assert e.value.code == 1
