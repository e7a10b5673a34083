import os
import stat
from pathlib import Path

import pytest

from ballena.errors import NotFound
from ballena.shim import fsops


def test_go_file_modes_as_the_docker_cli_reads_them(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir(mode=0o755)
    f = tmp_path / "f"
    f.write_text("x")
    f.chmod(0o4644)
    os.symlink("f", tmp_path / "l")
    assert fsops.go_file_mode(os.lstat(d)) == (1 << 31) | 0o755
    assert fsops.go_file_mode(os.lstat(f)) == (1 << 23) | 0o644
    assert fsops.go_file_mode(os.lstat(tmp_path / "l")) & (1 << 27)
    assert fsops.go_file_mode(os.stat("/dev/null")) & ((1 << 26) | (1 << 21)) == (1 << 26) | (1 << 21)


def test_path_stat_inside_a_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # path_stat resolves in "/" (it runs chrooted); here / is the host, so use a real host path
    st = fsops.path_stat("/etc/hostname" if os.path.exists("/etc/hostname") else "/etc/passwd")
    assert st["name"] in ("hostname", "passwd") and st["size"] > 0 and st["mode"] & 0o777
    with pytest.raises(NotFound):
        fsops.path_stat("/no/such/file/anywhere")
    assert stat.S_IMODE(0o644) == 0o644
