import pytest

from ballena.errors import InvalidArgument
from ballena.pkg import signals


@pytest.mark.parametrize(
    ("name", "n"), [("KILL", 9), ("SIGKILL", 9), ("9", 9), ("sigterm", 15), ("HUP", 1), ("SIGUSR1", 10)]
)
def test_parse(name: str, n: int) -> None:
    assert signals.parse(name) == n


@pytest.mark.parametrize("name", ["NOPE", "SIGNOPE", "", "-1"])
def test_unknown_signals_in_dockers_words(name: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        signals.parse(name)
    assert e.value.message.startswith("Invalid signal")
