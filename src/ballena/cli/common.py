"""What every command shares: argument parsing with docker's error style, tables laid out as
Go's tabwriter does (min width 10, padding 3), ``--format`` handling, and error exits."""

from __future__ import annotations

import os
import sys

from ballena.cli.flags import FlagError, FlagSet
from ballena.client import jsonwire
from ballena.client.api import APIError, Client, ConnectionFailed

TYPE_CHECKING = False  # typing itself costs the CLI ~5 ms to import

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, NoReturn


class UsageError(Exception):
    def __init__(self, message: str, code: int = 125) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def die(message: str, code: int = 1) -> NoReturn:
    print(message, file=sys.stderr)
    raise Exit(code)


def daemon_error(e: APIError, prefix: str = "") -> NoReturn:
    die(f"{prefix}Error response from daemon: {e.message}", 1)


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


# -- tables -------------------------------------------------------------------------------------


def for_each(names: list[str], fn: Callable[[str], object], *, echo: bool = True) -> int:
    """Apply `fn` to each name as docker does for stop/rm/kill: go on after a failure, exit 1 if any failed."""
    code = 0
    for n in names:
        try:
            fn(n)
            if echo:
                out(n)
        except APIError as e:
            print(f"Error response from daemon: {e.message}", file=sys.stderr)
            code = 1
    return code


def tabwrite(rows: Sequence[Sequence[str]], *, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter with docker's settings; the last column is not padded."""
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            widths[i] = max(widths[i], _display_width(cell) + padding, minwidth)
    lines = []
    for r in rows:
        parts = []
        for i, cell in enumerate(r):
            if i < len(r) - 1:
                parts.append(cell + " " * (widths[i] - _display_width(cell)))
            else:
                parts.append(cell)
        lines.append("".join(parts).rstrip() if not r[-1] else "".join(parts))
    return "\n".join(lines)


def _display_width(s: str) -> int:
    return len(s)


def render(
    items: Iterable[Any], fmt: str | None, *, default: str, headers: dict[str, str], quiet_field: str | None = None
) -> str:
    """Render objects with a Go template the way docker's formatter does.

    ``table ...`` prints a header built from ``headers``; ``json`` prints one JSON object per
    line; any other template is applied to each item.
    """
    fmt = fmt if fmt else default
    items = list(items)
    if fmt == "json":
        import json

        return "\n".join(json.dumps(_jsonable(i), separators=(",", ":"), ensure_ascii=False) for i in items)
    is_table = fmt.startswith("table")
    body = fmt[len("table") :].lstrip() if is_table else fmt
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    fields = _simple_fields(body)
    if fields is not None:
        # Only {{.Field}} and text (every default format): no template engine needed.
        lines = [_fill(body, fields, i) for i in items]
        if not is_table:
            return "\n".join(lines)
        header = _fill(body, fields, {f[1:]: headers.get(f[1:], _title_from_field(f[1:])) for f in fields})
        return tabwrite([header.split("\t")] + [ln.split("\t") for ln in lines])
    from ballena.cli.gotemplate import Template, TemplateError

    try:
        tmpl = Template(body)
        rendered = [tmpl.execute(i) for i in items]
    except TemplateError as e:
        raise UsageError(f"template parsing error: {e}", 64) from None
    if not is_table:
        return "\n".join(rendered)
    header_tmpl = Template(body)
    try:
        header = header_tmpl.execute(_HeaderContext(headers))
    except TemplateError:
        header = ""
    rows = [header.split("\t")] + [r.split("\t") for r in rendered]
    return tabwrite(rows)


def _simple_fields(body: str) -> list[str] | None:
    fields: list[str] = []
    rest = body
    while True:
        start = rest.find("{{")
        if start < 0:
            return fields
        end = rest.find("}}", start)
        if end < 0:
            return None
        inner = rest[start + 2 : end].strip()
        if not inner.startswith(".") or not inner[1:].isidentifier():
            return None
        fields.append(inner)
        rest = rest[end + 2 :]


def _fill(body: str, fields: list[str], item: Any) -> str:
    out = body
    for f in fields:
        value = item.get(f[1:], "<no value>")
        out = out.replace("{{" + f + "}}", str(value), 1).replace("{{ " + f + " }}", str(value), 1)
    return out


class _HeaderContext(dict[str, str]):
    """Answers any field with its column title, as docker's header contexts do."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__()
        self._headers = headers

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return self._headers.get(key, _title_from_field(key))


def _title_from_field(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append(" ")
        out.append(ch.upper())
    return "".join(out)


def _jsonable(item: Any) -> Any:
    if hasattr(item, "__template_json__"):
        return item.__template_json__()
    return item


# -- running a command --------------------------------------------------------------------------


def run_command(fn: Callable[[Client, list[str]], int | None], client: Client, argv: list[str]) -> int:
    try:
        code = fn(client, argv)
        return int(code or 0)
    except UsageError as e:
        print(e.message, file=sys.stderr)
        return e.code
    except FlagError as e:
        if e.message:
            print(e.message, file=sys.stderr)
        return e.code
    except APIError as e:
        print(f"Error response from daemon: {e.message}", file=sys.stderr)
        return 1
    except ConnectionFailed as e:
        print(str(e), file=sys.stderr)
        return 1
    except Exit as e:
        return e.code
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's flush
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        return 130


def flags(prog: str, usage: str, **kw: Any) -> FlagSet:
    return FlagSet(prog, usage, **kw)


def parse_filters(values: list[str] | None) -> dict[str, list[str]] | None:
    if not values:
        return None
    out: dict[str, list[str]] = {}
    for v in values:
        if "=" not in v:
            raise UsageError("bad format of filter (expected name=value)\nSee 'ballena --help'.")
        k, _, val = v.partition("=")
        out.setdefault(k.strip().lower() if k.strip().lower() in ("dangling",) else k.strip(), []).append(val)
    return out


def filters_param(values: list[str] | None) -> str | None:
    f = parse_filters(values)
    return jsonwire.dumps(f) if f else None
