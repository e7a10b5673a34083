"""Time as Docker shows it: RFC 3339 with nanoseconds, Go durations, "since"/"until" values.

Ballena keeps instants as integer nanoseconds since the epoch (``time.time_ns()``).
"""

from __future__ import annotations

import time

from ballena.errors import InvalidArgument

ZERO_TIME = "0001-01-01T00:00:00Z"

# `re` is imported by the functions that parse: the CLI prints times at every start and parses
# them rarely, and `re` (with `enum`) costs a start about 4 ms. re caches the compiled patterns.
_DURATION_PART = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)"
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def now_ns() -> int:
    return time.time_ns()


def rfc3339nano(ns: int) -> str:
    """Go's ``time.RFC3339Nano`` in UTC: fraction without trailing zeros; 0 is Go's zero time."""
    if ns <= 0:
        return ZERO_TIME
    secs, frac = divmod(ns, 10**9)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def parse_rfc3339(value: str) -> int:
    """Parse an RFC 3339 timestamp (any fraction length, Z or offset) to nanoseconds."""
    import re

    m = re.match(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})?$", value)
    if not m:
        raise InvalidArgument(f"invalid time format: {value!r}")
    import datetime as _dt

    date, clock, frac, zone = m.groups()
    dt = _dt.datetime.fromisoformat(f"{date}T{clock}")
    if zone in (None, "Z", "z"):
        dt = dt.replace(tzinfo=_dt.UTC)
    else:
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        dt = dt.replace(tzinfo=_dt.timezone(sign * _dt.timedelta(hours=hours, minutes=minutes)))
    if dt.year < 1970:
        return 0
    ns_frac = int((frac or "0").ljust(9, "0")[:9])
    return int(dt.timestamp()) * 10**9 + ns_frac


def parse_go_duration(value: str) -> int:
    """A Go duration (``10m``, ``1h30m``, ``1.5s``, ``-2m``) in nanoseconds. Raises InvalidArgument."""
    import re

    text = value.strip()
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    pos, total = 0, 0.0
    for m in re.finditer(_DURATION_PART, text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise InvalidArgument(f"time: invalid duration {value!r}")
    return sign * int(total)


def format_go_duration(ns: int) -> str:
    """Go's ``time.Duration.String``: ``30s``, ``1m30s``, ``1h0m0s``, ``1.5s``, ``500ms``, ``0s``."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns, size) + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    out = _trim(rest, 10**9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{out}"
    if minutes:
        return f"{sign}{minutes}m{out}"
    return sign + out


def _trim(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{str(frac).rjust(digits, '0').rstrip('0')}"


def parse_api_timestamp(value: str) -> int:
    """The ``since``/``until`` values the API receives: ``seconds[.nanoseconds]`` from the CLI,
    or RFC 3339 from other clients. Returns nanoseconds.
    """
    import re

    value = value.strip()
    if re.match(r"^-?\d+(\.\d{1,9})?$", value):
        secs, _, frac = value.partition(".")
        return int(secs) * 10**9 + int(frac.ljust(9, "0") if frac else 0)
    try:
        return parse_rfc3339(value)
    except InvalidArgument:
        raise InvalidArgument(f"failed to parse value as time or duration: {value!r}") from None


def cli_timestamp(value: str, *, reference_ns: int | None = None) -> str:
    """What the docker CLI sends for ``--since``/``--until``: durations become absolute times."""
    import re

    reference_ns = reference_ns if reference_ns is not None else now_ns()
    if value != "0":
        try:
            d = parse_go_duration(value)
            return str((reference_ns - d) // 10**9)
        except InvalidArgument:
            pass
    if "-" in value:
        text = value
        if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            text += "T00:00:00"
        if "T" in text and text.count(":") == 0:
            text += ":00:00"
        elif "T" in text and text.count(":") == 1:
            text += ":00"
        ns = _parse_local_or_zoned(text)
        return f"{ns // 10**9}.{ns % 10**9:09d}"
    if re.match(r"^\d+(\.\d+)?$", value):
        return value
    raise InvalidArgument(f"failed to parse value as time or duration: {value!r}")


def _parse_local_or_zoned(text: str) -> int:
    import re

    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|z|[+-]\d{2}:\d{2})?$", text)
    if not m:
        raise InvalidArgument(f"failed to parse value as time or duration: {text!r}")
    if m.group(3):
        return parse_rfc3339(text)
    import datetime as _dt

    local = _dt.datetime.fromisoformat(m.group(1)).astimezone()
    frac = int((m.group(2) or ".0")[1:].ljust(9, "0")[:9])
    return int(local.timestamp()) * 10**9 + frac


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"
