import json

import pytest

from ballena.shim.logfile import LogWriter, log_files, read_entries


def test_json_file_log_lines_partials_and_rotation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c-json.log"
    w = LogWriter(str(path), max_size=200, max_file=3)
    w.write("stdout", b"one\ntw")
    w.write("stdout", b"o\n")
    w.write("stderr", b"err\n")
    w.write("stdout", b"no newline")
    w.close()
    entries = list(read_entries(str(path)))
    assert [(e["log"], e["stream"]) for e in entries] == [
        ("one\n", "stdout"),
        ("two\n", "stdout"),
        ("err\n", "stderr"),
        ("no newline", "stdout"),
    ]
    assert entries[0]["time"].endswith("Z")
    w = LogWriter(str(path), max_size=200, max_file=3)
    for i in range(50):
        w.write("stdout", f"line {i}\n".encode())
    w.close()
    files = log_files(str(path))
    assert len(files) == 3
    for f in files:
        with open(f) as fh:
            assert all(json.loads(line) for line in fh)


@pytest.mark.parametrize(
    ("writes", "lines"),
    [
        ([b"a\nb\n"], ["a\n", "b\n"]),
        ([b"par", b"tial\n"], ["partial\n"]),
        ([b"\n"], ["\n"]),
        ([b"x" * 20000], ["x" * 16384, "x" * (20000 - 16384)]),  # a long partial line is cut as Docker does
        ([b"no end"], ["no end"]),
    ],
)
def test_lines_as_the_json_file_driver_writes_them(tmp_path, writes: list[bytes], lines: list[str]) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c-json.log"
    w = LogWriter(str(path), max_size=0, max_file=1)
    for data in writes:
        w.write("stdout", data)
    w.close()
    assert [e["log"] for e in read_entries(str(path))] == lines


def test_max_size_zero_never_rotates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c-json.log"
    w = LogWriter(str(path), max_size=0, max_file=3)
    for i in range(200):
        w.write("stdout", f"{i}\n".encode())
    w.close()
    assert log_files(str(path)) == [str(path)]
