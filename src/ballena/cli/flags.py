"""Command-line flags with docker's syntax (spf13/pflag): ``--name=v``, ``--name v``, ``-n v``,
``-nv``, ``-abc`` for booleans, ``--rm=false``, ``--`` to stop, and, for ``run``/``exec``,
no flags after the first argument. Errors read and exit as docker's do (125)."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself costs the CLI ~5 ms to import

if TYPE_CHECKING:
    from typing import Any


# FlagSet has methods named str/list/int/float/bool (docker's flag kinds); annotations inside
# the class use these aliases so they mean the builtin types.
_Str = str
_List = list
_Float = float


class FlagError(Exception):
    def __init__(self, message: str, code: int = 125) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class _Flag:
    __slots__ = ("long", "short", "kind", "default", "help", "dest", "metavar")

    def __init__(self, long: str, short: str | None, kind: str, default: Any, help: str, metavar: str) -> None:
        self.long = long
        self.short = short
        self.kind = kind  # bool | str | list | int | float
        self.default = default
        self.help = help
        self.dest = long.replace("-", "_")
        self.metavar = metavar


class Values:
    """Parsed flags as attributes (``--no-trunc`` is ``no_trunc``) and the arguments."""

    def __init__(self, data: dict[str, Any], args: list[str], given: set[str]) -> None:
        self.__dict__.update(data)
        self.args = args
        self._given = given

    def given(self, long: str) -> bool:
        return long in self._given

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...


class FlagSet:
    def __init__(
        self,
        prog: _Str,
        usage: _Str,
        *,
        description: _Str = "",
        interspersed: bool = True,
        min_args: int = 0,
        max_args: int | None = None,
    ) -> None:
        self.prog = prog
        self.usage = usage
        self.description = description
        self.interspersed = interspersed
        self.min_args = min_args
        self.max_args = max_args
        self._flags: _List[_Flag] = []
        self._long: dict[_Str, _Flag] = {}
        self._short: dict[_Str, _Flag] = {}

    def _add(self, long: _Str, short: _Str | None, kind: _Str, default: Any, help: _Str, metavar: _Str = "") -> None:
        f = _Flag(
            long,
            short,
            kind,
            default,
            help,
            metavar or {"str": "string", "list": "list", "int": "int", "float": "decimal"}.get(kind, ""),
        )
        self._flags.append(f)
        self._long[long] = f
        if short:
            self._short[short] = f

    def bool(self, long: _Str, short: _Str | None = None, help: _Str = "", default: bool = False) -> None:
        self._add(long, short, "bool", default, help)

    def str(
        self, long: _Str, short: _Str | None = None, help: _Str = "", default: _Str | None = None, metavar: _Str = ""
    ) -> None:
        self._add(long, short, "str", default, help, metavar)

    def list(self, long: _Str, short: _Str | None = None, help: _Str = "", metavar: _Str = "") -> None:
        self._add(long, short, "list", None, help, metavar)

    def int(self, long: _Str, short: _Str | None = None, help: _Str = "", default: int | None = 0) -> None:
        self._add(long, short, "int", default, help)

    def float(self, long: _Str, short: _Str | None = None, help: _Str = "", default: _Float | None = None) -> None:
        self._add(long, short, "float", default, help)

    def _set(self, values: dict[_Str, Any], f: _Flag, raw: _Str, name: _Str) -> None:
        if f.kind == "bool":
            low = raw.lower()
            if low in ("1", "t", "true"):
                values[f.dest] = True
            elif low in ("0", "f", "false"):
                values[f.dest] = False
            else:
                raise FlagError(
                    f'invalid argument "{raw}" for "{self._names(f)}" flag: strconv.ParseBool: '
                    f'parsing "{raw}": invalid syntax'
                )
        elif f.kind == "list":
            values.setdefault(f.dest, [])
            if values[f.dest] is None:
                values[f.dest] = []
            values[f.dest].append(raw)
        elif f.kind == "int":
            try:
                values[f.dest] = int(raw, 0) if raw.lower().startswith(("0x", "0o", "0b")) else int(raw)
            except ValueError:
                raise FlagError(
                    f'invalid argument "{raw}" for "{self._names(f)}" flag: strconv.ParseInt: '
                    f'parsing "{raw}": invalid syntax'
                ) from None
        elif f.kind == "float":
            try:
                values[f.dest] = float(raw)
            except ValueError:
                raise FlagError(
                    f'invalid argument "{raw}" for "{self._names(f)}" flag: strconv.ParseFloat: '
                    f'parsing "{raw}": invalid syntax'
                ) from None
        else:
            values[f.dest] = raw

    @staticmethod
    def _names(f: _Flag) -> _Str:
        return f"-{f.short}, --{f.long}" if f.short else f"--{f.long}"

    def parse(self, argv: _List[_Str]) -> Values:
        """Raises FlagError (exit 125) for bad flags, (exit 1) for a wrong number of arguments."""
        values: dict[_Str, Any] = {
            f.dest: (list(f.default) if isinstance(f.default, list) else f.default) for f in self._flags
        }
        given: set[_Str] = set()
        args: _List[_Str] = []
        i = 0
        while i < len(argv):
            a = argv[i]
            i += 1
            if a == "--":
                args.extend(argv[i:])
                break
            if a in ("-h", "--help") and "help" not in self._long:
                self.print_help()
                raise FlagError("", 0)
            if a.startswith("--") and len(a) > 2:
                name, eq, raw = a[2:].partition("=")
                f = self._long.get(name)
                if f is None:
                    raise FlagError(f"unknown flag: --{name}\nSee '{self.prog} --help'.")
                given.add(f.long)
                if eq:
                    self._set(values, f, raw, name)
                elif f.kind == "bool":
                    values[f.dest] = True
                else:
                    if i >= len(argv):
                        raise FlagError(f"flag needs an argument: --{name}\nSee '{self.prog} --help'.")
                    self._set(values, f, argv[i], name)
                    i += 1
                continue
            if a.startswith("-") and len(a) > 1:
                shorts = a[1:]
                j = 0
                while j < len(shorts):
                    c = shorts[j]
                    f = self._short.get(c)
                    if f is None:
                        if c == "h":
                            self.print_help()
                            raise FlagError("", 0)
                        raise FlagError(f"unknown shorthand flag: '{c}' in {a}\nSee '{self.prog} --help'.")
                    given.add(f.long)
                    rest = shorts[j + 1 :]
                    if f.kind == "bool":
                        if rest.startswith("="):
                            self._set(values, f, rest[1:], c)
                            break
                        values[f.dest] = True
                        j += 1
                        continue
                    if rest:
                        self._set(values, f, rest[1:] if rest.startswith("=") else rest, c)
                    else:
                        if i >= len(argv):
                            raise FlagError(f"flag needs an argument: '{c}' in {a}\nSee '{self.prog} --help'.")
                        self._set(values, f, argv[i], c)
                        i += 1
                    break
                continue
            args.append(a)
            if not self.interspersed:
                args.extend(argv[i:])
                break
        if len(args) < self.min_args:
            need = "at least" if self.max_args is None or self.max_args > self.min_args else "exactly"
            plural = "argument" if self.min_args == 1 else "arguments"
            raise FlagError(
                f"\"{self.prog}\" requires {need} {self.min_args} {plural}.\nSee '{self.prog} --help'."
                f"\n\nUsage:  {self.usage}\n\n{self.description}".rstrip(),
                1,
            )
        if self.max_args is not None and len(args) > self.max_args:
            if self.max_args == 0:
                raise FlagError(
                    f"\"{self.prog}\" accepts no arguments.\nSee '{self.prog} --help'."
                    f"\n\nUsage:  {self.usage}\n\n{self.description}".rstrip(),
                    1,
                )
            plural = "argument" if self.max_args == 1 else "arguments"
            raise FlagError(
                f"\"{self.prog}\" requires at most {self.max_args} {plural}.\nSee '{self.prog} --help'."
                f"\n\nUsage:  {self.usage}\n\n{self.description}".rstrip(),
                1,
            )
        return Values(values, args, given)

    def print_help(self) -> None:
        lines = [f"\nUsage:  {self.usage}", ""]
        if self.description:
            lines += [self.description, ""]
        if self._flags:
            lines.append("Options:")
            rows = []
            for f in self._flags:
                names = f"-{f.short}, --{f.long}" if f.short else f"    --{f.long}"
                if f.kind != "bool":
                    names += f" {f.metavar}"
                rows.append((names, f.help))
            width = max(len(r[0]) for r in rows) + 3
            lines += [f"  {n.ljust(width)}{h}" for n, h in rows]
        sys.stdout.write("\n".join(lines) + "\n")
