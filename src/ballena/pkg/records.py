"""Records to JSON documents and back, with the semantics of Go's ``encoding/json``.

Docker's documents are Go structs; their field names and rules (``omitempty``, embedded
structs flattened into their parent, a string accepted where a ``[]string`` belongs, null
leaving the zero value) decide what a client sends and expects. Our records are frozen
dataclasses with snake_case attributes; ``tag()`` declares, next to each field, how it
travels, as a Go struct tag does::

    @dataclass(frozen=True, slots=True, kw_only=True)
    class RestartPolicy:
        __json_case__ = "pascal"                       # name -> Name, maximum_retry_count -> ...
        name: str = tag(default="")
        maximum_retry_count: int = tag(default=0)

``decode`` is as strict as Go about types and says which field was wrong in Go's words
("json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64"), so
that nothing malformed gets past the boundary where it is called. Unknown keys are ignored,
as Go ignores them. Private fields (``private=True``) are ours alone: they are written to our
own files (``encode(..., private=True)``) and never shown to a client.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any

from ballena.errors import InvalidArgument

__all__ = ["DecodeError", "decode", "encode", "tag"]

_MISSING: Any = dataclasses.MISSING


class DecodeError(InvalidArgument):
    """A document does not fit the record it is decoded into."""


def tag(
    name: str = "",
    *,
    default: Any = _MISSING,
    factory: Any = _MISSING,
    omitempty: bool = False,
    inline: bool = False,
    strslice: bool = False,
    keyset: bool = False,
    private: bool = False,
    go: str = "",
) -> Any:
    """A record field and how it travels.

    ``name``: the JSON key (default: the attribute in the class's ``__json_case__``);
    ``omitempty``: left out when zero, as Go's tag; ``inline``: a nested record whose fields
    sit in the parent's object (Go's embedded struct); ``strslice``: a ``tuple[str, ...]``
    that also accepts a lone string (Docker's StrSlice); ``keyset``: a ``tuple[str, ...]``
    written as ``{"key": {}, ...}`` (Go's ``map[string]struct{}``); ``private``: ours only;
    ``go``: the Go type named in error messages when it is not the obvious one."""
    meta = {
        "json": name,
        "omitempty": omitempty,
        "inline": inline,
        "strslice": strslice,
        "keyset": keyset,
        "private": private,
        "go": go,
    }
    if factory is not _MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# -- the plan of a record class (computed once) -------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    attr: str
    key: str
    kind: Any  # the resolved type
    omitempty: bool
    inline: bool
    strslice: bool
    keyset: bool
    private: bool
    go: str
    has_default: bool


_PLANS: dict[type, tuple[_Field, ...]] = {}


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _plan(cls: type) -> tuple[_Field, ...]:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    hints = typing.get_type_hints(cls)
    case = getattr(cls, "__json_case__", "snake")
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        key = meta.get("json") or (_pascal(f.name) if case == "pascal" else f.name)
        out.append(
            _Field(
                attr=f.name,
                key=key,
                kind=hints[f.name],
                omitempty=bool(meta.get("omitempty")),
                inline=bool(meta.get("inline")),
                strslice=bool(meta.get("strslice")),
                keyset=bool(meta.get("keyset")),
                private=bool(meta.get("private")),
                go=str(meta.get("go") or ""),
                has_default=f.default is not _MISSING or f.default_factory is not _MISSING,
            )
        )
    plan = tuple(out)
    _PLANS[cls] = plan
    return plan


def _go_name(cls: type) -> str:
    return str(getattr(cls, "__go_name__", cls.__name__))


@functools.cache  # a create decodes ~120 fields: typing's introspection is worth caching per type
def _unoptional(kind: Any) -> tuple[Any, bool]:
    """(T, True) for ``T | None``; (kind, False) otherwise."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(args) != len(typing.get_args(kind)):
            return args[0], True
    return kind, False


def _go_type(kind: Any, f: _Field | None = None) -> str:
    if f is not None and f.go:
        return f.go
    kind, optional = _unoptional(kind)
    star = "*" if optional else ""
    if kind is bool:
        return star + "bool"
    if kind is int:
        return star + "int64"
    if kind is float:
        return star + "float64"
    if kind is str:
        return star + "string"
    if kind is bytes:
        return star + "[]uint8"
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if f is not None and f.keyset:
        return "map[string]struct {}"
    if origin is tuple:
        return "[]" + _go_type(args[0])
    if origin in (dict, Mapping, typing.Mapping):
        return f"map[string]{_go_type(args[1])}"
    if dataclasses.is_dataclass(kind):
        return star + _go_name(kind)  # type: ignore[arg-type]
    return "interface {}"


# -- encoding ---------------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return (
        value is None or value is False or value == 0 or value == "" or (hasattr(value, "__len__") and not len(value))
    )


def encode(record: Any, *, private: bool = False, nulls: bool = True) -> dict[str, Any]:
    """The JSON object of a record: every field, in declaration order, but ``omitempty`` ones
    that are zero; private fields only with ``private``. With ``nulls=False`` (what the Engine
    API's schema wants of answers) an unset list is ``[]``, an unset map ``{}``, and any other
    unset field is left out, instead of Go's ``null``."""
    out: dict[str, Any] = {}
    _encode_into(out, record, private, nulls)
    return out


def _encode_into(out: dict[str, Any], record: Any, private: bool, nulls: bool = True) -> None:
    for f in _plan(type(record)):
        if f.private and not private:
            continue
        value = getattr(record, f.attr)
        if f.inline:
            _encode_into(out, value, private, nulls)
            continue
        if f.omitempty and _empty(value):
            continue
        if value is None and not nulls:
            empty = _empty_of(f)
            if empty is not None:
                out[f.key] = empty
            continue
        if f.keyset:
            out[f.key] = None if value is None else {k: {} for k in value}
            continue
        out[f.key] = _encode_value(value, private, nulls)


def _empty_of(f: _Field) -> list[Any] | dict[str, Any] | None:
    if f.keyset:
        return {}
    kind, _ = _unoptional(f.kind)
    origin, _args = _origin_args(kind)
    if origin is tuple or origin is list:
        return []
    if origin in (dict, Mapping, typing.Mapping):
        return {}
    return None


def _encode_value(value: Any, private: bool, nulls: bool = True) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode(value, private=private, nulls=nulls)
    if isinstance(value, Mapping):
        return {str(k): _encode_value(v, private, nulls) for k, v in value.items()}
    if isinstance(value, tuple | list | frozenset | set):
        return [_encode_value(v, private, nulls) for v in value]
    return value


# -- decoding ---------------------------------------------------------------------------------------


def _json_kind(value: Any) -> str:
    """How Go's error names a JSON value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number" if isinstance(value, int) else f"number {value!r}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class _Ctx:
    __slots__ = ("private", "struct", "path")

    def __init__(self, private: bool, struct: str, path: str) -> None:
        self.private = private
        self.struct = struct
        self.path = path

    def fail(self, value: Any, go_type: str) -> DecodeError:
        where = f"{self.struct}.{self.path}" if self.path else self.struct
        return DecodeError(f"json: cannot unmarshal {_json_kind(value)} into Go struct field {where} of type {go_type}")


def decode(cls: type, doc: Any, *, private: bool = False, root: str = "", path: str = "") -> Any:
    """The record of class ``cls`` in ``doc`` (a JSON value). Raises DecodeError naming the
    field whose value has the wrong type; null and absent fields keep their defaults.

    ``root`` names the outermost Go struct in messages (default: the class's Go name);
    ``path`` is the key path of ``doc`` within it."""
    ctx = _Ctx(private, root or _go_name(cls), path)
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise (
            ctx.fail(doc, _go_name(cls))
            if path
            else DecodeError(f"json: cannot unmarshal {_json_kind(doc)} into Go value of type {_go_name(cls)}")
        )
    return _decode_record(cls, doc, ctx)


def _decode_record(cls: type, doc: Mapping[str, Any], ctx: _Ctx) -> Any:
    values: dict[str, Any] = {}
    struct = ctx.struct
    for f in _plan(cls):
        if f.private and not ctx.private:
            continue
        if f.inline:
            values[f.attr] = _decode_record(f.kind, doc, ctx)
            continue
        if f.key not in doc or doc[f.key] is None and not _unoptional(f.kind)[1]:
            continue  # Go leaves the zero value (our default)
        path = f"{ctx.path}.{f.key}" if ctx.path else f.key
        sub = _Ctx(ctx.private, struct, path)
        values[f.attr] = _decode_value(f.kind, doc[f.key], sub, f)
    try:
        return cls(**values)
    except TypeError as e:  # a required field without a default is missing
        raise DecodeError(f"{ctx.struct}: {e}") from None


@functools.cache
def _origin_args(kind: Any) -> tuple[Any, tuple[Any, ...]]:
    return typing.get_origin(kind), typing.get_args(kind)


def _decode_value(kind: Any, value: Any, ctx: _Ctx, f: _Field | None = None) -> Any:
    kind, optional = _unoptional(kind)
    if value is None:
        if optional:
            return None
        raise ctx.fail(value, _go_type(kind, f))
    if kind is Any:
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ctx.fail(value, _go_type(kind, f))
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        raise ctx.fail(value, _go_type(kind, f))
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ctx.fail(value, _go_type(kind, f))
    if kind is str:
        if isinstance(value, str):
            return value
        raise ctx.fail(value, _go_type(kind, f))
    if kind is bytes:
        if isinstance(value, str):
            try:
                return base64.b64decode(value)
            except ValueError:
                pass
        raise ctx.fail(value, "[]uint8")
    if f is not None and f.keyset:
        if isinstance(value, Mapping):
            return tuple(str(k) for k in value)
        raise ctx.fail(value, _go_type(kind, f))
    origin, args = _origin_args(kind)
    if origin is tuple:
        if f is not None and f.strslice and isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            raise ctx.fail(value, _go_type(kind, f))
        item = args[0]
        return tuple(_decode_value(item, v, ctx) for v in value)
    if origin in (dict, Mapping, typing.Mapping):
        if not isinstance(value, Mapping):
            raise ctx.fail(value, _go_type(kind, f))
        item = args[1]
        return {str(k): _decode_value(item, v, ctx) for k, v in value.items()}
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise ctx.fail(value, _go_type(kind, f))
        return _decode_record(kind, value, _Ctx(ctx.private, _go_name(kind), ctx.path))  # type: ignore[arg-type]
    return value
