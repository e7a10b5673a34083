"""Sizes as Docker reads and prints them (go-units): ``32m`` in, ``4.26MB`` out."""

from __future__ import annotations

from ballena.errors import InvalidArgument

_DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
_BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
_SIZE = r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$"
_MULT = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def _go_g(value: float, precision: int) -> str:
    text = f"{value:.{precision}g}"
    if "e" in text:  # Go prints e+06 as e+06 as well; keep C's form
        mant, exp = text.split("e")
        text = f"{mant}e{exp[0]}{exp[1:].lstrip('0').rjust(2, '0')}"
    return text


def _human(size: float, base: float, units: list[str], precision: int = 4) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{_go_g(size, precision)}{units[i]}"


def human_size(size: float) -> str:
    """Decimal units with 4 significant digits, as ``docker images`` prints sizes."""
    return _human(float(size), 1000.0, _DECIMAL)


def human_size_precision(size: float, precision: int) -> str:
    return _human(float(size), 1000.0, _DECIMAL, precision)


def bytes_size(size: float) -> str:
    """Binary units (``MiB``), as ``docker stats`` prints memory."""
    return _human(float(size), 1024.0, _BINARY)


def ram_in_bytes(value: str) -> int:
    """``-m 32m`` style values, binary multipliers. Raises InvalidArgument."""
    import re  # here: the CLI prints sizes at every start, parses them rarely (re costs ~4 ms)

    m = re.match(_SIZE, value.strip())
    if not m:
        raise InvalidArgument(f"invalid size: '{value}'")
    number = float(m.group(1))
    unit = (m.group(2) or "").lower()
    return int(number * (1024 ** _MULT.get(unit, 0)))


def from_human_size(value: str) -> int:
    """Decimal multipliers (``--shm-size`` uses RAMInBytes; ``--log-opt max-size`` uses this)."""
    import re  # here: the CLI prints sizes at every start, parses them rarely (re costs ~4 ms)

    m = re.match(_SIZE, value.strip())
    if not m:
        raise InvalidArgument(f"invalid size: '{value}'")
    number = float(m.group(1))
    unit = (m.group(2) or "").lower()
    return int(number * (1000 ** _MULT.get(unit, 0)))
