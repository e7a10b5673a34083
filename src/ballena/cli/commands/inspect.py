"""``inspect``: any object by name or ID, printed as Docker prints it."""

from __future__ import annotations

import json
import sys

from ballena.cli.common import UsageError, flags, out
from ballena.client.api import APIError, Client

TYPE_CHECKING = False  # typing costs a command ~5 ms to import
if TYPE_CHECKING:
    from typing import Any

_KINDS = {
    "container": "/containers/{}/json",
    "image": "/images/{}/json",
    "network": "/networks/{}",
    "volume": "/volumes/{}",
}


def print_inspected(results: list[Any], errors: list[str], fmt: str | None) -> int:
    if fmt:
        from ballena.cli.gotemplate import Template, TemplateError

        try:
            tmpl = Template(fmt)
        except TemplateError as e:
            raise UsageError(f"template parsing error: {e}", 1) from None
        for r in results:
            try:
                out(tmpl.execute(r))
            except TemplateError as e:
                print(f"template: {e}", file=sys.stderr)
                return 1
    elif results or not errors:
        out(json.dumps(results, indent=4, ensure_ascii=False))
    for message in errors:
        print(message, file=sys.stderr)
    return 1 if errors else 0


def inspect(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} [OPTIONS] NAME|ID [NAME|ID...]", min_args=1)
    p.str("format", "f", "")
    p.bool("size", "s", "")
    p.str("type", None, "Return JSON for specified type")

    a = p.parse(argv)
    if a.type and a.type not in _KINDS:
        raise UsageError(f'"{a.type}" is not a valid value for --type', 1)
    kinds = [a.type] if a.type else list(_KINDS)
    results: list[Any] = []
    errors: list[str] = []
    for name in a.args:
        for kind in kinds:
            try:
                params = {"size": True} if (a.size and kind == "container") else None
                results.append(client.get(_KINDS[kind].format(name), params=params))
                break
            except APIError as e:
                if e.status not in (404, 400):
                    raise
        else:
            errors.append(f"Error: No such object: {name}" if not a.type else f"Error: No such {a.type}: {name}")
    return print_inspected(results, errors, a.format)
