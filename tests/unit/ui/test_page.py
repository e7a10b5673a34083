"""The page's own logic (ui/tests, node's test runner): stats arithmetic, log unframing, the
compose graph's layout. The browser tests (tests/e2e/dashboard) show it on screen."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT


def test_the_page_logic_passes_its_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("no Node.js here (scripts/setup.sh installs it)")
    r = subprocess.run([node, "--test", "ui/tests/"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "# fail 0" in r.stdout and "# pass 5" in r.stdout
