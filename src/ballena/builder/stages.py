"""A parsed Dockerfile cut into stages, with what each stage needs (pure, no I/O).

Global ``ARG``s come before the first ``FROM``; each stage starts at a ``FROM``, may be named
(``AS name``), and depends on the stages its ``FROM`` and ``COPY --from`` name. Only the stages
the target needs are built; those that do not depend on each other run in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ballena.builder.parser import Node, ParseError
from ballena.builder.shell import Lexer, ShellError
from ballena.errors import InvalidArgument

PREDEFINED_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)
KNOWN = frozenset(
    {
        "from",
        "run",
        "cmd",
        "label",
        "maintainer",
        "expose",
        "env",
        "add",
        "copy",
        "entrypoint",
        "volume",
        "user",
        "workdir",
        "arg",
        "onbuild",
        "stopsignal",
        "healthcheck",
        "shell",
    }
)


@dataclass(slots=True)
class Stage:
    index: int
    base: str  # as written (after global ARG expansion)
    name: str
    from_node: Node
    nodes: list[Node] = field(default_factory=list)
    deps: set[int] = field(default_factory=set)
    base_stage: int | None = None


@dataclass(slots=True)
class Plan:
    global_args: dict[str, str | None]
    stages: list[Stage]
    target: int
    needed: list[int]


def _flag(node: Node, name: str) -> str | None:
    for f in node.flags:
        if f.startswith(f"--{name}="):
            return f.split("=", 1)[1]
    return None


def plan(nodes: list[Node], *, build_args: dict[str, str | None], target: str | None, escape: str = "\\") -> Plan:
    """Stages, the target and the stages it needs. Raises InvalidArgument (Docker's messages)."""
    for n in nodes:
        if n.cmd not in KNOWN:
            raise ParseError(f"unknown instruction: {n.value.upper()}", n.start_line)
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    lexer = Lexer(escape)
    for n in nodes:
        if n.cmd == "from":
            if not n.args:
                raise ParseError("FROM requires either one or three arguments", n.start_line)
            env = {k: (build_args.get(k) if build_args.get(k) is not None else v) or "" for k, v in global_args.items()}
            try:
                base = lexer.process_word(n.args[0], env)
            except ShellError as e:
                raise InvalidArgument(e.message) from None
            name = ""
            if len(n.args) == 3 and n.args[1].lower() == "as":
                name = n.args[2].lower()
            elif len(n.args) != 1:
                raise ParseError("FROM requires either one or three arguments", n.start_line)
            stages.append(Stage(index=len(stages), base=base, name=name, from_node=n))
        elif not stages:
            if n.cmd != "arg":
                raise ParseError("no build stage in current context", n.start_line)
            for word in n.args:
                key, eq, value = word.partition("=")
                global_args[key] = lexer.process_word(value, {}) if eq else None
        else:
            stages[-1].nodes.append(n)
    if not stages:
        raise InvalidArgument("no build stage in current context")
    by_name = {s.name: s.index for s in stages if s.name}
    for s in stages:
        ref = s.base.lower()
        if ref in by_name and by_name[ref] < s.index:
            s.base_stage = by_name[ref]
            s.deps.add(by_name[ref])
        for n in s.nodes:
            src = _flag(n, "from") if n.cmd in ("copy", "add") else None
            if src is None:
                continue
            if src.lower() in by_name:
                if by_name[src.lower()] >= s.index:
                    raise InvalidArgument(f"invalid from flag value {src}: refers to a later stage")
                s.deps.add(by_name[src.lower()])
            elif src.isdigit():
                idx = int(src)
                if idx >= s.index:
                    raise InvalidArgument(f"invalid from flag value {src}: refers to current or later build stage")
                s.deps.add(idx)
    if target:
        if target.lower() not in by_name:
            raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")
        tgt = by_name[target.lower()]
    else:
        tgt = len(stages) - 1
    needed: set[int] = set()
    todo = [tgt]
    while todo:
        i = todo.pop()
        if i in needed:
            continue
        needed.add(i)
        todo.extend(stages[i].deps)
    return Plan(global_args=global_args, stages=stages, target=tgt, needed=sorted(needed))


def stage_ref(value: str, stages: list[Stage]) -> int | None:
    """The stage a ``--from`` value names, or None for an image."""
    for s in stages:
        if s.name and s.name == value.lower():
            return s.index
    if value.isdigit() and int(value) < len(stages):
        return int(value)
    return None
