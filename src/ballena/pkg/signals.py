"""Signal names and numbers as ``docker kill -s`` and ``--stop-signal`` accept them."""

from __future__ import annotations

import signal

from ballena.errors import InvalidArgument

_BY_NAME: dict[str, int] = {}
for _s in signal.Signals:
    if _s.name.startswith("SIG") and not _s.name.startswith("SIG_"):
        _BY_NAME[_s.name[3:]] = int(_s.value)
_BY_NAME.setdefault("IOT", int(signal.SIGABRT))
_BY_NAME.setdefault("POLL", int(signal.SIGIO))
_RTMIN, _RTMAX = signal.SIGRTMIN, signal.SIGRTMAX
for _i in range(1, _RTMAX - _RTMIN):
    _BY_NAME[f"RTMIN+{_i}"] = _RTMIN + _i
    _BY_NAME[f"RTMAX-{_i}"] = _RTMAX - _i


def parse(raw: str) -> int:
    """``KILL``, ``SIGKILL``, ``sigkill`` or ``9``. Raises InvalidArgument("Invalid signal: x")."""
    text = str(raw).strip()
    if text.isdigit():
        n = int(text)
        if n == 0 or n > _RTMAX:
            raise InvalidArgument(f"Invalid signal: {raw}")
        return n
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name not in _BY_NAME:
        raise InvalidArgument(f"Invalid signal: {raw}")
    return _BY_NAME[name]


def name_of(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)
