"""Go's text/template, the part people use with ``--format``.

Actions: ``{{.A.B}}``, ``{{$}}``, ``{{$v := pipeline}}``, pipelines with ``|``, ``if``/``else``/
``else if``, ``range`` (with ``$i, $v :=``), ``with``, ``{{- -}}`` trimming, string/number/bool
literals, parenthesised pipelines. Functions: Go's builtins (``and or not len index printf
print println eq ne lt le gt ge slice``) and the docker CLI's (``json join split lower upper
title pad truncate``). Values print as Go's ``%v`` does: ``[a b]``, ``map[k:v]``, ``<no value>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any


class TemplateError(Exception):
    pass


class _Missing:
    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


# -- values as Go prints them -------------------------------------------------------------------


def go_str(v: Any) -> str:
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e21:
            return _go_float(v)
        return _go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v[k])}" for k in sorted(v, key=str)) + "]"
    if hasattr(v, "__template_str__"):
        return str(v.__template_str__())
    return str(v)


def _go_float(v: float) -> str:
    """Go's %v of a float64 (strconv 'g', shortest): the fewest digits that round-trip, in
    exponent form when the decimal exponent is below -4 or at least 6 (so 1e6 is "1e+06")."""
    return _go_g_shortest(v)


def _go_g_shortest(v: float) -> str:
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    from decimal import Decimal

    sign, digits, exponent = Decimal(repr(v)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    dp = len(text) + exponent
    x = dp - 1
    neg = "-" if sign else ""
    if x < -4 or x >= 6:
        mant = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{neg}{mant}e{'+' if x >= 0 else '-'}{abs(x):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{text}"
    if dp >= len(text):
        return f"{neg}{text}{'0' * (dp - len(text))}"
    return f"{neg}{text[:dp]}.{text[dp:]}"


def truthy(v: Any) -> bool:
    if v is MISSING or v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    if isinstance(v, str | list | tuple | dict):
        return len(v) > 0
    return True


# -- lexing -------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)')
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\)(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<comma>,)
""",
    re.VERBOSE,
)


def _lex_action(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise TemplateError(f"unexpected {text[pos]!r} in command")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group()))
        pos = m.end()
    return out


# -- the tree -----------------------------------------------------------------------------------


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Action:
    __slots__ = ("tokens",)

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens


class _If:
    __slots__ = ("branches", "else_body", "kind")

    def __init__(self, branches: list[tuple[list[tuple[str, str]], list[Any]]], kind: str = "if") -> None:
        self.branches = branches
        self.else_body: list[Any] = []
        self.kind = kind


class _Range:
    __slots__ = ("tokens", "body", "else_body")

    def __init__(self, tokens: list[tuple[str, str]], body: list[Any]) -> None:
        self.tokens = tokens
        self.body = body
        self.else_body: list[Any] = []


def _split(template: str) -> list[tuple[str, str]]:
    """Text and action pieces, with ``{{-``/``-}}`` trimming applied."""
    parts: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = template.find("{{", pos)
        if start < 0:
            parts.append(("text", template[pos:]))
            break
        text = template[pos:start]
        inner_start = start + 2
        if (
            template.startswith("- ", inner_start)
            or template.startswith("-\t", inner_start)
            or template.startswith("-\n", inner_start)
        ):
            text = text.rstrip()
            inner_start += 1
        end = template.find("}}", inner_start)
        if end < 0:
            raise TemplateError("unclosed action")
        inner = template[inner_start:end]
        trim_right = False
        if inner.endswith(" -") or inner.endswith("\t-") or inner.endswith("\n-"):
            inner = inner[:-1]
            trim_right = True
        parts.append(("text", text))
        parts.append(("action", inner.strip()))
        pos = end + 2
        if trim_right:
            while pos < len(template) and template[pos] in " \t\r\n":
                pos += 1
    return [(k, v) for k, v in parts if not (k == "text" and v == "")]


def _parse(pieces: list[tuple[str, str]], i: int, stop: tuple[str, ...]) -> tuple[list[Any], int, str]:
    body: list[Any] = []
    while i < len(pieces):
        kind, value = pieces[i]
        if kind == "text":
            body.append(_Text(value))
            i += 1
            continue
        if value.startswith("/*"):
            i += 1
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in stop:
            return body, i, value
        if word in ("if", "with"):
            node = _If(branches=[], kind=word)
            cond = _lex_action(value[len(word) :])
            i += 1
            while True:
                sub, i, term = _parse(pieces, i, ("else", "end"))
                node.branches.append((cond, sub))
                if term == "end":
                    i += 1
                    break
                rest = term[len("else") :].strip()
                i += 1
                if rest.startswith("if ") or rest.startswith("with "):
                    w = rest.split(None, 1)[0]
                    cond = _lex_action(rest[len(w) :])
                    continue
                node.else_body, i, term = _parse(pieces, i, ("end",))
                i += 1
                break
            body.append(node)
            continue
        if word == "range":
            tokens = _lex_action(value[len("range") :])
            i += 1
            sub, i, term = _parse(pieces, i, ("else", "end"))
            node_r = _Range(tokens=tokens, body=sub)
            if term.startswith("else"):
                i += 1
                node_r.else_body, i, term = _parse(pieces, i, ("end",))
            i += 1
            body.append(node_r)
            continue
        if word in ("define", "template", "block"):
            raise TemplateError(f"{word} is not supported in --format")
        body.append(_Action(_lex_action(value)))
        i += 1
    if stop:
        raise TemplateError(f"unexpected EOF, expected {{{{{stop[-1]}}}}}")
    return body, i, ""


# -- evaluation ---------------------------------------------------------------------------------


def _field(value: Any, name: str) -> Any:
    if value is MISSING or value is None:
        if value is None:
            raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
        return MISSING
    if isinstance(value, Mapping):
        if name in value:
            return value[name]
        return MISSING
    attr = getattr(value, name, MISSING)
    if callable(attr):
        return attr()
    if attr is MISSING:
        raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
    return attr


def _fields(value: Any, chain: str) -> Any:
    for name in chain.split(".")[1:]:
        if name:
            value = _field(value, name)
    return value


def _unquote(tok: str) -> str:
    if tok.startswith("`"):
        return tok[1:-1]
    return json.loads(tok)


class _Env:
    def __init__(self, dot: Any, funcs: Mapping[str, Callable[..., Any]]) -> None:
        self.vars: list[dict[str, Any]] = [{"$": dot}]
        self.funcs = funcs

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.vars):
            if name in scope:
                return scope[name]
        raise TemplateError(f'undefined variable "{name}"')

    def assign(self, name: str, value: Any, declare: bool) -> None:
        if declare:
            self.vars[-1][name] = value
            return
        for scope in reversed(self.vars):
            if name in scope:
                scope[name] = value
                return
        raise TemplateError(f'undefined variable "{name}"')


def _eval_pipeline(tokens: list[tuple[str, str]], dot: Any, env: _Env) -> Any:
    decl: list[str] = []
    declare = True
    if len(tokens) >= 2 and tokens[0][0] == "var":
        # $x := ...   or   $i, $v := ...
        j = 0
        names = []
        while j < len(tokens) and tokens[j][0] == "var":
            names.append(tokens[j][1])
            j += 1
            if j < len(tokens) and tokens[j][0] == "comma":
                j += 1
        if j < len(tokens) and tokens[j][0] in ("declare", "assign"):
            declare = tokens[j][0] == "declare"
            decl = names
            tokens = tokens[j + 1 :]
    commands: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for tok in tokens:
        if tok[0] == "lparen":
            depth += 1
        elif tok[0] == "rparen":
            depth -= 1
        if tok[0] == "pipe" and depth == 0:
            commands.append([])
        else:
            commands[-1].append(tok)
    value: Any = MISSING
    first = True
    for cmd in commands:
        if not cmd:
            raise TemplateError("missing command")
        value = _eval_command(cmd, dot, env, None if first else value, piped=not first)
        first = False
    if decl:
        env.assign(decl[-1], value, declare)
        return _NOTHING
    return value


class _Nothing:
    pass


_NOTHING = _Nothing()


def _operands(tokens: list[tuple[str, str]], dot: Any, env: _Env) -> list[Any]:
    out: list[Any] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "lparen":
            depth, j = 1, i + 1
            while j < len(tokens) and depth:
                if tokens[j][0] == "lparen":
                    depth += 1
                elif tokens[j][0] == "rparen":
                    depth -= 1
                j += 1
            value = _eval_pipeline(tokens[i + 1 : j - 1], dot, env)
            close = tokens[j - 1][1]
            if len(close) > 1:
                value = _fields(value, close[1:] if close[1:].startswith(".") else "." + close[1:])
            out.append(value)
            i = j
            continue
        out.append(_operand(kind, text, dot, env))
        i += 1
    return out


def _operand(kind: str, text: str, dot: Any, env: _Env) -> Any:
    if kind == "field":
        return _fields(dot, text)
    if kind == "dot":
        return dot
    if kind == "var":
        name, _, rest = text.partition(".")
        value = env.lookup(name)
        return _fields(value, "." + rest) if rest else value
    if kind == "string":
        return _unquote(text)
    if kind == "number":
        return float(text) if any(c in text for c in ".eE") else int(text)
    if kind == "ident":
        if text in ("true", "false"):
            return text == "true"
        if text == "nil":
            return None
        return _Func(text)
    raise TemplateError(f"unexpected {text!r}")


class _Func:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _eval_command(cmd: list[tuple[str, str]], dot: Any, env: _Env, piped_value: Any, *, piped: bool) -> Any:
    ops = _operands(cmd, dot, env)
    head = ops[0]
    args = ops[1:]
    if piped:
        args.append(piped_value)
    if isinstance(head, _Func):
        fn = env.funcs.get(head.name)
        if fn is None:
            raise TemplateError(f'function "{head.name}" not defined')
        return fn(*args)
    if args:
        raise TemplateError(f"can't give argument to non-function {cmd[0][1]}")
    return head


def _iterate(value: Any) -> list[tuple[Any, Any]]:
    if value is MISSING or value is None:
        return []
    if isinstance(value, Mapping):
        return [(k, value[k]) for k in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if isinstance(value, int):
        return [(i, i) for i in range(value)]
    raise TemplateError(f"range can't iterate over {go_str(value)}")


def _exec(body: list[Any], dot: Any, env: _Env, out: list[str]) -> None:
    for node in body:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Action):
            value = _eval_pipeline(node.tokens, dot, env)
            if value is not _NOTHING:
                out.append(go_str(value))
        elif isinstance(node, _If):
            env.vars.append({})
            try:
                for cond, sub in node.branches:
                    value = _eval_pipeline(cond, dot, env)
                    if value is _NOTHING:
                        value = env.vars[-1][next(reversed(env.vars[-1]))]
                    if truthy(value):
                        _exec(sub, value if node.kind == "with" else dot, env, out)
                        break
                else:
                    _exec(node.else_body, dot, env, out)
            finally:
                env.vars.pop()
        elif isinstance(node, _Range):
            tokens = node.tokens
            names: list[str] = []
            for j, (k, _t) in enumerate(tokens):
                if k == "declare":
                    names = [t for kk, t in tokens[:j] if kk == "var"]
                    tokens = tokens[j + 1 :]
                    break
            items = _iterate(_eval_pipeline(tokens, dot, env))
            if not items:
                _exec(node.else_body, dot, env, out)
            for key, item in items:
                env.vars.append({})
                if len(names) == 1:
                    env.vars[-1][names[0]] = item
                elif len(names) == 2:
                    env.vars[-1][names[0]] = key
                    env.vars[-1][names[1]] = item
                try:
                    _exec(node.body, item, env, out)
                finally:
                    env.vars.pop()


# -- functions ----------------------------------------------------------------------------------


def _json(v: Any) -> str:
    if v is MISSING:
        return "null"
    if hasattr(v, "__template_json__"):
        v = v.__template_json__()
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(o: Any) -> Any:
    if hasattr(o, "__template_json__"):
        return o.__template_json__()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _printf(fmt: str, *args: Any) -> str:
    conv = re.sub(r"%(-?\d*)v", lambda m: "%" + m.group(1) + "s", fmt).replace("%q", '"%s"')
    vals = tuple(go_str(a) if not isinstance(a, int | float) or "%d" not in fmt else a for a in args)
    try:
        return conv % vals
    except (TypeError, ValueError) as e:
        raise TemplateError(f"printf: {e}") from None


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(v, Mapping):
            v = v.get(k, MISSING)
        elif isinstance(v, list | tuple):
            v = v[int(k)]
        else:
            raise TemplateError(f"can't index item of type {type(v).__name__}")
    return v


def _cmp(fn: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def inner(a: Any, *bs: Any) -> bool:
        return any(fn(a, b) for b in bs) if fn is _eq_fn else fn(a, bs[0])

    return inner


def _eq_fn(a: Any, b: Any) -> bool:
    return bool(a == b)


def _truncate(s: Any, n: int) -> str:
    text = go_str(s)
    return text[:n] if len(text) > n else text


def _and(*args: Any) -> Any:
    for a in args:
        if not truthy(a):
            return a
    return args[-1]


def _or(*args: Any) -> Any:
    for a in args:
        if truthy(a):
            return a
    return args[-1]


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "join": lambda items, sep: sep.join(go_str(x) for x in (items or [])),
    "split": lambda s, sep: s.split(sep),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": lambda s: go_str(s).title(),
    "pad": lambda s, left, right: " " * left + go_str(s) + " " * right,
    "truncate": _truncate,
    "len": lambda v: len(v) if v not in (None, MISSING) else 0,
    "index": _index,
    "printf": _printf,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "not": lambda v: not truthy(v),
    "and": _and,
    "or": _or,
    "eq": _cmp(_eq_fn),
    "ne": _cmp(lambda a, b: a != b),
    "lt": _cmp(lambda a, b: a < b),
    "le": _cmp(lambda a, b: a <= b),
    "gt": _cmp(lambda a, b: a > b),
    "ge": _cmp(lambda a, b: a >= b),
    "slice": lambda v, *ix: v[ix[0] : ix[1]] if len(ix) == 2 else v[ix[0] :] if ix else v,
}


class Template:
    def __init__(self, text: str, funcs: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.text = text
        self.funcs = {**FUNCS, **(funcs or {})}
        self.body, _, _ = _parse(_split(text), 0, ())

    def execute(self, data: Any) -> str:
        out: list[str] = []
        _exec(self.body, data, _Env(data, self.funcs), out)
        return "".join(out)
