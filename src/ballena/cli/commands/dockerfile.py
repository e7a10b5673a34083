"""``ballena dockerfile parse FILE``: how Docker reads a Dockerfile, one instruction a line."""

from __future__ import annotations

import sys

from ballena.cli.common import die, flags
from ballena.client.api import Client


def parse(client: Client, argv: list[str], *, prog: str) -> int:
    p = flags(prog, f"{prog} FILE|-", min_args=1, max_args=1)
    a = p.parse(argv)
    file = a.args[0]
    from ballena.builder.parser import ParseError, dump
    from ballena.builder.parser import parse as parse_dockerfile

    try:
        if file == "-":
            text = sys.stdin.read()
        else:
            with open(file, encoding="utf-8") as f:
                text = f.read()
    except OSError as e:
        die(f"open {file}: {(e.strerror or str(e)).lower()}")
    try:
        result = parse_dockerfile(text)
    except ParseError as e:
        die(e.message)
    sys.stdout.write(dump(result))
    return 0
