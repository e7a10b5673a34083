import pytest

from ballena.errors import InvalidArgument
from ballena.pkg import units


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0B"), (999, "999B"), (1000, "1kB"), (4261550, "4.262MB"), (2_000_000_000, "2GB")]
)
def test_human_size_like_go_units(n: int, text: str) -> None:
    assert units.human_size(n) == text


def test_human_size_precision_and_bytes_size() -> None:
    assert units.human_size_precision(4261550, 3) == "4.26MB"
    assert units.bytes_size(32 * 1024 * 1024) == "32MiB"


@pytest.mark.parametrize(
    ("text", "n"), [("32m", 32 << 20), ("1g", 1 << 30), ("512k", 512 << 10), ("100", 100), ("1.5g", 3 << 29)]
)
def test_ram_in_bytes(text: str, n: int) -> None:
    assert units.ram_in_bytes(text) == n


@pytest.mark.parametrize("text", ["lots", "", "12q", "-"])
def test_ram_in_bytes_refuses_nonsense(text: str) -> None:
    with pytest.raises(InvalidArgument):
        units.ram_in_bytes(text)
