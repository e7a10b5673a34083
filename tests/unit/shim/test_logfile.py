import json

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
