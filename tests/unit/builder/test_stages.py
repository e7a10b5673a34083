"""Cutting a Dockerfile into stages: names, indexes, dependencies, the target, global ARGs."""

from __future__ import annotations

import pytest

from ballena.builder.parser import ParseError, parse
from ballena.builder.stages import plan, stage_ref
from ballena.errors import InvalidArgument

MULTI = """ARG BASE=busybox
FROM ${BASE} AS build
RUN echo hi > /out
FROM busybox AS unused
RUN exit 1
FROM build AS test
FROM busybox
COPY --from=build /out /out
"""


def test_final_stage_needs_only_what_it_copies_from() -> None:
    p = plan(parse(MULTI).nodes, build_args={}, target=None)
    assert [s.name for s in p.stages] == ["build", "unused", "test", ""]
    assert p.stages[0].base == "busybox"  # the global ARG default
    assert p.target == 3
    assert p.needed == [0, 3]


def test_target_by_name_and_base_stage() -> None:
    p = plan(parse(MULTI).nodes, build_args={}, target="TEST")
    assert p.target == 2 and p.needed == [0, 2]
    assert p.stages[2].base_stage == 0


def test_build_arg_overrides_global_arg() -> None:
    p = plan(parse(MULTI).nodes, build_args={"BASE": "debian:bookworm"}, target=None)
    assert p.stages[0].base == "debian:bookworm"


def test_unknown_target() -> None:
    with pytest.raises(InvalidArgument, match="failed to reach build target nope"):
        plan(parse(MULTI).nodes, build_args={}, target="nope")


def test_copy_from_a_later_stage_is_refused() -> None:
    text = "FROM busybox\nCOPY --from=1 /a /a\nFROM busybox\n"
    with pytest.raises(InvalidArgument, match="refers to current or later build stage"):
        plan(parse(text).nodes, build_args={}, target=None)


def test_instructions_before_from() -> None:
    with pytest.raises(ParseError, match="no build stage in current context"):
        plan(parse("RUN true\nFROM busybox\n").nodes, build_args={}, target=None)
    with pytest.raises(ParseError, match="unknown instruction: FOO"):
        plan(parse("FROM busybox\nFOO bar\n").nodes, build_args={}, target=None)


def test_stage_ref() -> None:
    p = plan(parse(MULTI).nodes, build_args={}, target=None)
    assert stage_ref("build", p.stages) == 0
    assert stage_ref("2", p.stages) == 2
    assert stage_ref("busybox", p.stages) is None
    assert stage_ref("9", p.stages) is None
