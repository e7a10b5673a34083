"""The Dockerfile parser, reproducing BuildKit's ``frontend/dockerfile/parser`` exactly.

A Dockerfile becomes a list of ``Node``: the instruction as written, its ``--flags``, and its
arguments. How the arguments are split depends on the instruction (``DISPATCH``): JSON arrays
for the exec form, whitespace words, ``key=value`` pairs, or the rest of the line as one string.
Nothing is evaluated here: variables are expanded later, per stage, by the builder.

``dump()`` prints a parse in BuildKit's test format: ``(copy ["--from=a"] "src" "dst")``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ballena.errors import InvalidArgument

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_COMMENT = re.compile(r"^#.*$")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_KNOWN_DIRECTIVES = ("escape", "syntax", "check")
NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


class ParseError(InvalidArgument):
    """A Dockerfile that cannot be parsed; the message names the line as Docker does."""

    def __init__(self, message: str, line: int = 0) -> None:
        if line:
            message = f"dockerfile parse error on line {line}: {message}"
        super().__init__(message)
        self.line = line


@dataclass(frozen=True, slots=True, kw_only=True)
class Heredoc:
    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0


@dataclass(slots=True, kw_only=True)
class Node:
    """One instruction. ``args`` are the argument words; ``sub`` is ONBUILD's instruction."""

    value: str = ""  # the instruction as written (``copy``, ``RUN`` ...)
    original: str = ""
    flags: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    json: bool = False
    sub: Node | None = None
    heredocs: list[Heredoc] = field(default_factory=list)
    start_line: int = 0
    end_line: int = 0
    comments: list[str] = field(default_factory=list)

    @property
    def cmd(self) -> str:
        return self.value.lower()

    def dump(self) -> str:
        out = self.value.lower()
        if self.flags:
            out += " [" + " ".join(go_quote(f) for f in self.flags) + "]"
        if self.sub is not None:
            out += " (" + self.sub.dump() + ")"
        for a in self.args:
            out += " " + go_quote(a)
        return out.strip()


@dataclass(slots=True, kw_only=True)
class Result:
    nodes: list[Node]
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def go_quote(s: str) -> str:
    """Go's strconv.Quote: printable Unicode kept, control characters escaped."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\v":
            out.append("\\v")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.seen: dict[str, str] = {}
        self.done = False
        self._set_continuation()

    def _set_continuation(self) -> None:
        self.continuation = re.compile(re.escape(self.escape) + r"[ \t]*$")

    def parse_line(self, line: str) -> None:
        if self.done:
            return
        m = _DIRECTIVE.match(line)
        if m is None:
            self.done = True
            return
        name = m.group(1).lower()
        if name not in _KNOWN_DIRECTIVES:
            self.done = True
            return
        if name in self.seen:
            raise ParseError(f"only one {name} parser directive can be used")
        self.seen[name] = m.group(2)
        if name == "escape":
            if m.group(2) not in ("\\", "`"):
                raise ParseError(f"invalid escape token '{m.group(2)}' does not match ` or \\")
            self.escape = m.group(2)
            self._set_continuation()


def _trim_leading_ws(s: str) -> str:
    return s.lstrip(" \t")


def _is_comment(line: str) -> bool:
    return bool(_COMMENT.match(_trim_leading_ws(line.rstrip("\r\n"))))


def parse(text: str) -> Result:
    """Parse a whole Dockerfile. Raises ParseError with the line number."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    d = _Directives()
    nodes: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    i = 0
    n = len(lines)

    def process(raw: str, strip_left: bool) -> str:
        token = raw.rstrip("\r\n")
        if strip_left:
            token = _trim_leading_ws(token)
        try:
            d.parse_line(token)
        except ParseError as e:
            raise ParseError(e.message, i) from None
        return "" if _is_comment(token) else token

    while i < n:
        raw = lines[i]
        if _is_comment(raw):
            c = raw.strip()[1:].strip()
            comments = [] if c == "" else [*comments, c]
        i += 1
        line_text = process(raw, True)
        start = i
        line, eol = _trim_continuation(line_text, d)
        if eol and line == "":
            continue
        empty_continuation = False
        while not eol and i < n:
            raw2 = lines[i]
            i += 1
            nxt = process(raw2, False)
            if _is_comment(raw2):
                continue
            if _trim_leading_ws(nxt.rstrip("\r\n")) == "":
                empty_continuation = True
                continue
            part, eol = _trim_continuation(nxt, d)
            line += part
        if empty_continuation:
            warnings.append(f"Empty continuation line found in: {line}")
        try:
            node = _node_from_line(line, d, comments)
        except ParseError as e:
            raise ParseError(e.message, start) from None
        node.start_line, node.end_line = start, i
        if node.cmd in ("run", "copy", "add") and not node.json and "<<" in line:
            docs = heredocs_from_line(line)
            for doc in docs:
                content: list[str] = []
                terminated = False
                while i < n:
                    body = lines[i]
                    i += 1
                    candidate = body.rstrip("\r\n")
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    content.append(body + "\n")
                if not terminated:
                    raise ParseError("unterminated heredoc", start)
                node.heredocs.append(
                    Heredoc(name=doc.name, content="".join(content), expand=doc.expand, chomp=doc.chomp, fd=doc.fd)
                )
            node.end_line = i
        nodes.append(node)
        comments = []
    if not nodes:
        raise ParseError("file with no instructions")
    return Result(nodes=nodes, escape=d.escape, directives=dict(d.seen), warnings=warnings)


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    if d.continuation.search(line):
        return d.continuation.sub("", line), False
    return line, True


def parse_line(line: str, *, escape: str = "\\") -> Node:
    """One instruction on its own (``docker commit --change``, ``import --change``)."""
    d = _Directives()
    d.done = True
    if escape != "\\":
        d.escape = escape
        d._set_continuation()
    return _node_from_line(line, d, [])


def _node_from_line(line: str, d: _Directives, comments: list[str]) -> Node:
    cmd, flags, rest = _split_command(line, d)
    fn = _DISPATCH.get(cmd.lower())
    node = Node(value=cmd, original=line, flags=flags, comments=list(comments))
    if fn is None:
        return node  # unknown instructions are reported by the dispatcher, with their line
    fn(node, rest, d)
    return node


def _split_command(line: str, d: _Directives) -> tuple[str, list[str], str]:
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1], d)
        return parts[0], flags, rest.strip()
    return parts[0], [], ""


def _extract_flags(line: str, d: _Directives) -> tuple[str, list[str]]:
    """Leading ``--name[=value]`` words; ``--`` ends them. Quotes are kept as written."""
    IN_SPACES, IN_WORD, IN_QUOTE = 0, 1, 2
    words: list[str] = []
    phase = IN_SPACES
    word = ""
    quote = ""
    blank_ok = False
    pos = 0
    while pos <= len(line):
        ch = line[pos] if pos < len(line) else ""
        if phase == IN_SPACES:
            if pos == len(line):
                break
            if ch.isspace():
                pos += 1
                continue
            if ch != "-" or line[pos : pos + 2] != "--":
                return line[pos:], words
            phase = IN_WORD
        if phase in (IN_WORD, IN_QUOTE) and pos == len(line):
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == IN_WORD:
            if ch.isspace():
                phase = IN_SPACES
                if word == "--":
                    return line[pos:], words
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = IN_QUOTE
                pos += 1
                continue
            if ch == d.escape:
                if pos + 1 == len(line):
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word += ch
            pos += 1
            continue
        if phase == IN_QUOTE:
            if ch == quote:
                phase = IN_WORD
                pos += 1
                continue
            if ch == d.escape:
                if pos + 1 == len(line):
                    phase = IN_WORD
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word += ch
            pos += 1
    return "", words


def parse_words(rest: str, escape: str = "\\") -> list[str]:
    """Whitespace-separated words with quotes kept (they are removed at evaluation)."""
    IN_SPACES, IN_WORD, IN_QUOTE = 0, 1, 2
    words: list[str] = []
    phase = IN_SPACES
    word = ""
    quote = ""
    blank_ok = False
    pos = 0
    n = len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == IN_SPACES:
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            phase = IN_WORD
        if phase in (IN_WORD, IN_QUOTE) and pos == n:
            if blank_ok or word:
                words.append(word)
            break
        if phase == IN_WORD:
            if ch.isspace():
                phase = IN_SPACES
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = IN_QUOTE
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                word += ch
                pos += 1
                ch = rest[pos]
            word += ch
            pos += 1
            continue
        if phase == IN_QUOTE:
            if ch == quote:
                phase = IN_WORD
            if ch == escape and quote != "'":
                if pos + 1 == n:
                    phase = IN_WORD
                    pos += 1
                    continue
                pos += 1
                word += ch
                ch = rest[pos]
            word += ch
            pos += 1
    return words


# --- per-instruction argument parsers ----------------------------------------------------------


def _p_string(node: Node, rest: str, d: _Directives) -> None:
    if rest:
        node.args = [rest]


def _p_whitespace_list(node: Node, rest: str, d: _Directives) -> None:
    if rest:
        node.args = _WHITESPACE.split(rest)


def _parse_json(rest: str) -> list[str] | None:
    text = rest.lstrip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise ParseError(NOT_STRING_ARRAY)
    return value


def _p_maybe_json(node: Node, rest: str, d: _Directives) -> None:
    if not rest:
        return
    value = _parse_json(rest)
    if value is not None:
        node.args, node.json = value, True
    else:
        node.args = [rest]


def _p_maybe_json_list(node: Node, rest: str, d: _Directives) -> None:
    value = _parse_json(rest)
    if value is not None:
        node.args, node.json = value, True
    else:
        _p_whitespace_list(node, rest, d)


def _p_name_val(node: Node, rest: str, d: _Directives) -> None:
    words = parse_words(rest, d.escape)
    if not words:
        return
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise ParseError(f"{node.value.upper()} must have two arguments")
        node.args = [parts[0], parts[1], ""]
        return
    args: list[str] = []
    for word in words:
        if "=" not in word:
            raise ParseError(f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value")
        key, _, value = word.partition("=")
        args += [key, value, "="]
    node.args = args


def _p_name_or_name_val(node: Node, rest: str, d: _Directives) -> None:
    node.args = parse_words(rest, d.escape)


def _p_health(node: Node, rest: str, d: _Directives) -> None:
    sep = 0
    while sep < len(rest) and not rest[sep].isspace():
        sep += 1
    nxt = sep
    while nxt < len(rest) and rest[nxt].isspace():
        nxt += 1
    if sep == 0:
        return
    sub = Node()
    _p_maybe_json(sub, rest[nxt:], d)
    node.args = [rest[:sep], *sub.args]
    node.json = sub.json


def _p_subcommand(node: Node, rest: str, d: _Directives) -> None:
    if not rest:
        return
    node.sub = _node_from_line(rest, d, [])


_DISPATCH = {
    "add": _p_maybe_json_list,
    "arg": _p_name_or_name_val,
    "cmd": _p_maybe_json,
    "copy": _p_maybe_json_list,
    "entrypoint": _p_maybe_json,
    "env": _p_name_val,
    "expose": _p_whitespace_list,
    "from": _p_whitespace_list,
    "healthcheck": _p_health,
    "label": _p_name_val,
    "maintainer": _p_string,
    "onbuild": _p_subcommand,
    "run": _p_maybe_json,
    "shell": _p_maybe_json,
    "stopsignal": _p_string,
    "user": _p_string,
    "volume": _p_maybe_json_list,
    "workdir": _p_string,
}


def heredocs_from_line(line: str) -> list[Heredoc]:
    """The ``<<EOF`` words of a RUN/COPY/ADD line, in order (BuildKit's heredocsFromLine)."""
    from ballena.builder.shell import Lexer

    raw_lexer = Lexer("\\", raw_quotes=True, raw_escapes=True)
    docs: list[Heredoc] = []
    for word in raw_lexer.process_words(line, {}):
        doc = parse_heredoc(word)
        if doc is not None:
            docs.append(doc)
    return docs


def parse_heredoc(src: str) -> Heredoc | None:
    from ballena.builder.shell import Lexer

    m = _HEREDOC.match(src)
    if m is None:
        return None
    fd = int(m.group(1)) if m.group(1) else 0
    chomp = m.group(2) == "-"
    rest = m.group(3)
    if not rest:
        return None
    plain = Lexer("\\", skip_unset_env=True).process_words(rest, {})
    if len(plain) != 1:
        return None
    raw = Lexer("\\", skip_unset_env=True, raw_quotes=True).process_words(rest, {})
    if len(raw) != len(plain):
        raise ParseError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    word = plain[0]
    quotes = word.count("'") + word.count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(name=word, expand=quotes == raw_quotes, chomp=chomp, fd=fd)


def dump(result: Result) -> str:
    """The whole parse in BuildKit's test format, one ``(instruction ...)`` per line."""
    return "".join(f"({n.dump()})\n" for n in result.nodes)
