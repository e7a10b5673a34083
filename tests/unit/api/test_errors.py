import pytest

from ballena import errors
from ballena.api.errors import message_for, status_for


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.InvalidArgument("x"), 400),
        (errors.CommandNotRunnable("x", 127), 400),
        (errors.Unauthorized("x"), 401),
        (errors.Forbidden("x"), 403),
        (errors.NotFound("x"), 404),
        (errors.Conflict("x"), 409),
        (errors.AlreadyExists("x"), 409),
        (errors.NotModified("x"), 304),
        (errors.Unsupported("x"), 501),
        (errors.Unavailable("x"), 503),
        (errors.SystemFailure("x"), 500),
        (errors.RuntimeFailure("x"), 500),
        (ValueError("x"), 500),
    ],
)
def test_one_status_per_kind(exc: BaseException, status: int) -> None:
    assert status_for(exc) == status


def test_messages() -> None:
    assert message_for(errors.NotFound("No such container: x")) == "No such container: x"
    assert message_for(KeyError("k")) == "KeyError: 'k'"
