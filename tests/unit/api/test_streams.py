"""Docker's stream encodings and the detach keys of attach and exec."""

from __future__ import annotations

import struct

import pytest

from ballena.api.streams import DetachKeys, detach_sequence, frame, json_error
from ballena.errors import InvalidArgument


def test_frames_are_stdcopy() -> None:
    assert frame(2, b"oops") == struct.pack(">BxxxI", 2, 4) + b"oops"
    assert json_error("no") == b'{"errorDetail":{"message":"no"},"error":"no"}\n'


@pytest.mark.parametrize(
    ("spec", "expected"), [("", b"\x10\x11"), ("ctrl-a,x", b"\x01x"), ("ctrl-[", b"\x1b"), ("ctrl-@", b"\x00")]
)
def test_detach_sequences(spec: str, expected: bytes) -> None:
    assert detach_sequence(spec) == expected


@pytest.mark.parametrize("spec", ["ctrl-1", "abc", "ctrl-"])
def test_bad_detach_keys_are_refused_in_dockers_words(spec: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        detach_sequence(spec)
    assert e.value.message == f"Invalid escape keys ({spec}) provided"


def test_the_sequence_is_found_across_reads_and_a_false_start_is_passed_on() -> None:
    keys = DetachKeys("ctrl-p,ctrl-q")
    assert keys.feed(b"ls\x10") == (b"ls", False)  # held back: maybe the start of the sequence
    assert keys.feed(b"x") == (b"\x10x", False)  # it was not
    assert keys.feed(b"echo\x10") == (b"echo", False)
    assert keys.feed(b"\x11rest") == (b"", True)


def test_without_a_terminal_every_byte_passes() -> None:
    keys = DetachKeys("", tty=False)
    assert keys.feed(b"\x10\x11binary") == (b"\x10\x11binary", False)
