import pytest

from ballena.errors import InvalidArgument
from ballena.pkg.timeutil import cli_timestamp, human_duration, parse_api_timestamp, parse_go_duration, rfc3339nano


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (1_700_000_000_123_000_000, "2023-11-14T22:13:20.123Z"),
        (0, "0001-01-01T00:00:00Z"),
        (10**9, "1970-01-01T00:00:01Z"),
    ],
)
def test_rfc3339nano(ns: int, text: str) -> None:
    assert rfc3339nano(ns) == text


@pytest.mark.parametrize(
    ("text", "ns"),
    [("1h30m", 5400 * 10**9), ("1.5s", 1_500_000_000), ("250ms", 250_000_000), ("2m3s", 123 * 10**9), ("0s", 0)],
)
def test_parse_go_duration(text: str, ns: int) -> None:
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "5", "1x", "h", "-"])
def test_parse_go_duration_refuses(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1700000000.5", 1_700_000_000_500_000_000),
        ("1700000000", 1_700_000_000 * 10**9),
        ("2023-11-14T22:13:20Z", 1_700_000_000 * 10**9),
    ],
)
def test_parse_api_timestamp(text: str, ns: int) -> None:
    assert parse_api_timestamp(text) == ns


def test_cli_timestamp_makes_relative_times_absolute() -> None:
    assert cli_timestamp("10m", reference_ns=1_000 * 10**9) == "400"


@pytest.mark.parametrize(
    ("secs", "text"), [(0.5, "Less than a second"), (1, "1 second"), (75, "About a minute"), (3 * 3600, "3 hours")]
)
def test_human_duration_like_go_units(secs: float, text: str) -> None:
    assert human_duration(secs) == text
