"""Dockerfile word processing as BuildKit's ``shell.Lex`` does it: quote removal, escapes and
``$VAR``/``${VAR...}`` expansion, for one word (``process_word``) or split into words
(``process_words``). Supported modifiers: ``:-`` ``-`` ``:+`` ``+`` ``:?`` ``?`` ``#`` ``##``
``%`` ``%%`` ``/`` ``//``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from ballena.errors import InvalidArgument

_EOF = ""
_SPECIAL_PARAMS = "@*#?-$!0"


class ShellError(InvalidArgument):
    pass


class _Scanner:
    __slots__ = ("s", "pos")

    def __init__(self, s: str) -> None:
        self.s = s
        self.pos = 0

    def peek(self) -> str:
        return self.s[self.pos] if self.pos < len(self.s) else _EOF

    def next(self) -> str:
        if self.pos < len(self.s):
            ch = self.s[self.pos]
            self.pos += 1
            return ch
        return _EOF


class _Words:
    __slots__ = ("word", "words", "in_word")

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def get(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class Lexer:
    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset_env: bool = False,
        skip_process_quotes: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset_env = skip_unset_env
        self.skip_process_quotes = skip_process_quotes

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """One word: quotes removed, variables expanded, no splitting. Raises ShellError."""
        return _ShellWord(self, word, env).process()[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Split into words the way a shell would after expansion. Raises ShellError."""
        return _ShellWord(self, word, env).process()[1]

    def process_word_matches(self, word: str, env: Mapping[str, str]) -> tuple[str, set[str]]:
        sw = _ShellWord(self, word, env)
        result = sw.process()[0]
        return result, sw.matches


class _ShellWord:
    def __init__(self, lex: Lexer, word: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.env = env
        self.sc = _Scanner(word)
        self.source = word
        self.raw_escapes = lex.raw_escapes
        self.matches: set[str] = set()

    def process(self) -> tuple[str, list[str]]:
        try:
            return self._stop_on(_EOF, self.raw_escapes)
        except ShellError as e:
            raise ShellError(f'failed to process "{self.source}": {e.message}') from None

    def _stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            result: list[str] = []
            words = _Words()
            while self.sc.peek() != _EOF:
                ch = self.sc.peek()
                if stop != _EOF and ch == stop:
                    self.sc.next()
                    return "".join(result), words.get()
                if ch == "$":
                    tmp = self._dollar()
                    result.append(tmp)
                    words.add_string(tmp)
                elif ch in ("'", '"') and not self.lex.skip_process_quotes:
                    tmp = self._single_quote() if ch == "'" else self._double_quote()
                    result.append(tmp)
                    words.add_raw_string(tmp)
                else:
                    ch = self.sc.next()
                    if ch == self.lex.escape:
                        if self.raw_escapes:
                            words.add_raw_char(ch)
                            result.append(ch)
                        ch = self.sc.next()
                        if ch == _EOF:
                            break
                        words.add_raw_char(ch)
                    else:
                        words.add_char(ch)
                    result.append(ch)
            if stop != _EOF:
                raise ShellError(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.get()
        finally:
            self.raw_escapes = saved

    def _single_quote(self) -> str:
        out: list[str] = []
        ch = self.sc.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.sc.next()
            if ch == _EOF:
                raise ShellError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quote(self) -> str:
        out: list[str] = []
        ch = self.sc.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            p = self.sc.peek()
            if p == _EOF:
                raise ShellError("unexpected end of statement while looking for matching double-quote")
            if p == '"':
                ch = self.sc.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if p == "$":
                out.append(self._dollar())
                continue
            ch = self.sc.next()
            if ch == self.lex.escape:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.sc.peek()
                if nxt == _EOF:
                    continue
                if nxt in ('"', "$", self.lex.escape):
                    ch = self.sc.next()
            out.append(ch)

    def _get(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matches.add(name)
            return self.env[name], True
        return "", False

    def _name(self) -> str:
        name: list[str] = []
        while self.sc.peek() != _EOF:
            ch = self.sc.peek()
            if not name and ch.isdigit():
                while self.sc.peek() != _EOF and self.sc.peek().isdigit():
                    name.append(self.sc.next())
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                return self.sc.next()
            if not (ch.isalpha() or ch.isdigit() or ch == "_"):
                break
            name.append(self.sc.next())
        return "".join(name)

    def _dollar(self) -> str:
        self.sc.next()
        if self.sc.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._get(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value
        self.sc.next()
        p = self.sc.peek()
        if p == _EOF:
            raise ShellError("syntax error: missing '}'")
        if p in ("{", "}", ":"):
            raise ShellError("syntax error: bad substitution")
        name = self._name()
        ch = self.sc.next()
        chs = ch
        null_is_unset = False
        if ch == "}":
            value, found = self._get(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == ":":
            null_is_unset = True
            ch = self.sc.next()
            chs += ch
            modifier_ok = True
        else:
            modifier_ok = ch in "+-?#%"
        if modifier_ok and ch != "/":
            raw = ch in ("#", "%")
            if null_is_unset and raw:
                raise ShellError(f"unsupported modifier ({chs}) in substitution")
            try:
                word, _ = self._stop_on("}", raw)
            except ShellError:
                if self.sc.peek() == _EOF:
                    raise ShellError("syntax error: missing '}'") from None
                raise
            value, found = self._get(name)
            if self.lex.skip_unset_env and not found:
                return "${" + name + chs + word + "}"
            if ch == "-":
                return word if (not found or (null_is_unset and value == "")) else value
            if ch == "+":
                return "" if (not found or (null_is_unset and value == "")) else word
            if ch == "?":
                if not found:
                    raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            if ch in ("%", "#"):
                greedy = bool(word) and word[0] == ch
                if greedy:
                    word = word[1:]
                return _trim(word, value, greedy, suffix=ch == "%")
            raise ShellError(f"unsupported modifier ({chs}) in substitution")
        if ch == "/":
            replace_all = self.sc.peek() == "/"
            if replace_all:
                self.sc.next()
            try:
                pattern, _ = self._stop_on("/", True)
            except ShellError:
                if self.sc.peek() == _EOF:
                    raise ShellError("syntax error: missing '/' in ${}") from None
                raise
            try:
                replacement, _ = self._stop_on("}", True)
            except ShellError:
                if self.sc.peek() == _EOF:
                    raise ShellError("syntax error: missing '}'") from None
                raise
            value, found = self._get(name)
            if self.lex.skip_unset_env and not found:
                return "${" + name + "/" + pattern + "/" + replacement + "}"
            rx = re.compile(_pattern_regex(pattern, greedy=True))
            if replace_all:
                return rx.sub(lambda _m: replacement, value)
            m = rx.search(value)
            return value if m is None else value[: m.start()] + replacement + value[m.end() :]
        raise ShellError(f"unsupported modifier ({chs}) in substitution")


def _pattern_regex(pattern: str, *, greedy: bool) -> str:
    """A shell pattern (``*``, ``?``, ``[...]``, backslash escapes) as a regular expression."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append(".*" if greedy else ".*?")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _trim(pattern: str, value: str, greedy: bool, *, suffix: bool) -> str:
    rx = _pattern_regex(pattern, greedy=greedy)
    if suffix:
        # Shortest suffix: try the longest remaining prefix first.
        positions = range(len(value) + 1) if greedy else range(len(value), -1, -1)
        for i in positions:
            if re.fullmatch(rx, value[i:], flags=re.DOTALL):
                return value[:i]
        return value
    positions = range(len(value), -1, -1) if greedy else range(len(value) + 1)
    for i in positions:
        if re.fullmatch(rx, value[:i], flags=re.DOTALL):
            return value[i:]
    return value


def glob_match(pattern: str, name: str) -> bool:  # pragma: no cover - small wrapper kept for callers
    return fnmatch.fnmatchcase(name, pattern)
