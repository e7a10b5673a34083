import os
from pathlib import Path

import pytest

from ballena.pkg.securejoin import secure_join


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "usr" / "lib").mkdir(parents=True)
    os.symlink("/etc/shadow", r / "etc" / "evil")
    os.symlink("../../../../..", r / "up")
    os.symlink("usr/lib", r / "lib")
    os.symlink("/", r / "slash")
    os.symlink("loop2", r / "loop1")
    os.symlink("loop1", r / "loop2")
    return r


@pytest.mark.parametrize(
    ("unsafe", "expected"),
    [
        ("/etc/evil", "etc/shadow"),  # an absolute link restarts at the root, not the host's /
        ("/up/etc/passwd", "etc/passwd"),  # .. never climbs above the root
        ("../../x", "x"),
        ("/lib/x", "usr/lib/x"),  # relative links resolve where they are
        ("/slash/etc", "etc"),
        ("/etc/./../etc", "etc"),
        ("", ""),
        ("/", ""),
        ("/missing/deeper", "missing/deeper"),  # missing parts are kept as they are
    ],
)
def test_every_path_stays_inside(root: Path, unsafe: str, expected: str) -> None:
    assert secure_join(str(root), unsafe) == os.path.join(str(root), expected).rstrip("/") or str(root)


def test_a_symlink_loop_is_an_error(root: Path) -> None:
    with pytest.raises(OSError):
        secure_join(str(root), "/loop1/x")
