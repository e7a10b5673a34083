"""What a `ballena` command costs before it sends its request: the modules it imports.

`re` (with `enum`), `json`, `socket` and `typing` each cost a start several milliseconds of a
`ballena ps` that must stay within 1.5x of the Go docker CLI's; they must stay off its path.
"""

import subprocess
import sys
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parents[3] / "bin" / "ballena"
HEAVY = ("re", "enum", "json", "socket", "selectors", "typing", "contextlib", "datetime", "ssl", "platform")

PROBE = """
import sys
sys.argv = ["ballena", "-H", "unix:///nonexistent/ballena.sock", *sys.argv[1:]]
path = %r
try:  # exec, not runpy: runpy itself imports contextlib, enum and re
    exec(compile(open(path).read(), path, "exec"), {"__name__": "__main__"})
except SystemExit:
    pass
print("IMPORTED:", *sorted(m for m in %r if m in sys.modules), file=sys.stderr)
"""


def imported_by(*argv: str) -> list[str]:
    probe = PROBE % (str(LAUNCHER), HEAVY)
    proc = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=60)
    assert "Cannot connect to the Ballena daemon" in proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("IMPORTED:"))
    return line.split()[1:]


def test_ps_imports_nothing_heavy_before_its_request() -> None:
    assert imported_by("ps") == []


def test_images_container_ls_and_version_stay_light_too() -> None:
    assert imported_by("images") == []
    assert imported_by("container", "ls", "-a") == []
    assert imported_by("version") == []


def test_the_launcher_is_ours_not_the_entry_point_wrapper_that_imports_re() -> None:
    first = LAUNCHER.read_text().splitlines()
    assert first[0] == "#!python"  # pip writes the interpreter's path here at install
    assert not any(line.strip() in ("import re", "import json") for line in first)
