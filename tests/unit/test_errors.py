import pytest

from ballena import errors
from ballena.errors import (
    AlreadyExists,
    BallenaError,
    CommandNotRunnable,
    Conflict,
    InvalidArgument,
    NotFound,
    RuntimeFailure,
    SystemFailure,
    exit_code_for,
    from_kind,
    kind_name,
    start_failure,
)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('exec: "nope": executable file not found in $PATH', 127),
        ("stat /x: no such file or directory", 127),
        ('exec: "/etc": permission denied', 126),
        ('exec: "/etc": is a directory', 126),
        ("OCI runtime create failed: something else", 128),
        ("", 128),
        ("Executable File Not Found", 127),  # the words, whatever their case
    ],
)
def test_exit_code_for_reads_the_words_as_docker_does(message: str, code: int) -> None:
    assert exit_code_for(message) == code


def test_exit_code_for_default_is_the_callers() -> None:
    assert exit_code_for("boom", default=125) == 125


@pytest.mark.parametrize(
    ("message", "code", "kind", "status"),
    [
        ("not found in $PATH: executable file not found", None, CommandNotRunnable, 127),
        ("permission denied", None, CommandNotRunnable, 126),
        ("cgroup refused", None, RuntimeFailure, 128),
        ("whatever", 127, CommandNotRunnable, 127),
        ("whatever", 1, RuntimeFailure, 1),
    ],
)
def test_start_failure_picks_the_kind_by_exit_status(message: str, code: int | None, kind: type, status: int) -> None:
    e = start_failure(message, code)
    assert type(e) is kind and e.exit_code == status and e.message == message


def test_command_not_runnable_is_a_bad_request_and_runtime_failure_a_system_one() -> None:
    assert isinstance(CommandNotRunnable("x", 127), InvalidArgument)
    assert isinstance(RuntimeFailure("x"), SystemFailure)


@pytest.mark.parametrize("cls", [InvalidArgument, NotFound, Conflict, AlreadyExists, SystemFailure, errors.Unsupported])
def test_kinds_cross_processes_by_name(cls: type[BallenaError]) -> None:
    again = from_kind(kind_name(cls("msg")), "msg")
    assert type(again) is cls and again.message == "msg"


def test_subclasses_travel_as_their_kind_and_foreign_errors_as_system_failures() -> None:
    assert kind_name(CommandNotRunnable("x", 127)) == "InvalidArgument"
    assert kind_name(RuntimeFailure("x")) == "SystemFailure"
    assert kind_name(ValueError("x")) == "SystemFailure"
    assert type(from_kind("NoSuchKind", "m")) is SystemFailure


def test_no_error_shadows_a_builtin() -> None:
    import builtins

    assert not [name for name in errors.__all__ if hasattr(builtins, name)]


def test_message_is_the_string() -> None:
    assert str(NotFound("No such container: x")) == "No such container: x"
