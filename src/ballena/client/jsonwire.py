"""JSON for the CLI's start path, without importing the json package.

`import json` costs every CLI start about 5 ms of a 14 ms `ballena ps`: it imports `re` (and
with it `enum`) and compiles its patterns. Decoding an answer needs only the scanner the json
package itself runs, CPython's C module `_json`, given the options `json.loads` uses by
default. Encoding (request bodies, filters) happens on fewer paths and imports json then; so do
error messages, which stay json's own.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs the CLI ~5 ms to import

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_WHITESPACE = " \t\n\r"  # JSON's whitespace, and only it (str.strip() would take more)


class _DefaultOptions:
    """What the scanner reads from a json.JSONDecoder: those of a plain `json.loads(text)`."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__


def _c_scanner() -> Callable[[str, int], tuple[Any, int]] | None:
    try:
        import _json
    except ImportError:  # an interpreter without CPython's accelerator: json's own, slower to import
        return None
    # typeshed wants a JSONDecoder; the scanner reads only the attributes above from it.
    return _json.make_scanner(_DefaultOptions())  # type: ignore[arg-type]


_scan = _c_scanner()


def raw_decode(text: str, start: int = 0) -> tuple[Any, int]:
    """The JSON value beginning at `start` (after any whitespace) and the index just past it,
    as `json.JSONDecoder().raw_decode`; ValueError if there is none."""
    idx = start
    while idx < len(text) and text[idx] in _WHITESPACE:
        idx += 1
    if _scan is not None:
        try:
            return _scan(text, idx)
        except StopIteration:
            pass  # not a JSON value here: json's decoder words the error
    import json

    return json.JSONDecoder().raw_decode(text, idx)


def loads(data: bytes | str) -> Any:
    """`json.loads` for UTF-8 text: one value, surrounded by nothing but whitespace."""
    text = data.decode() if isinstance(data, bytes | bytearray) else data
    value, end = raw_decode(text)
    if text[end:].strip(_WHITESPACE):
        import json

        return json.loads(text)  # raises json's "Extra data" error
    return value


def dumps(value: Any, *, compact: bool = False) -> str:
    """``json.dumps``; ``compact``: no spaces after separators, as Go's encoder writes."""
    import json

    return json.dumps(value, separators=(",", ":") if compact else None)
