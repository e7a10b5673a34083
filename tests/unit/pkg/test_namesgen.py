import re

from ballena.pkg.namesgen import random_name


def test_names_are_adjective_underscore_surname() -> None:
    for _ in range(100):
        assert re.fullmatch(r"[a-z]+_[a-z]+", random_name())


def test_a_retry_appends_a_digit() -> None:
    assert re.fullmatch(r"[a-z]+_[a-z]+\d", random_name(1))


def test_never_boring_wozniak() -> None:
    assert all(random_name() != "boring_wozniak" for _ in range(500))
