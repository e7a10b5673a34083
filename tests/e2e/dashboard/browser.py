"""A headless Chromium for the dashboard tests: ``drive.mjs`` (playwright-core) in a Node
process, one JSON command per line. Debian's chromium is used as it is (no browser download)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

DRIVER = Path(__file__).with_name("drive.mjs")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Screenshots of each page, made by the run and kept out of git (.gitignore).
ARTIFACTS = ROOT / "tests" / "artifacts"


class BrowserError(AssertionError):
    pass


class Browser:
    def __init__(self) -> None:
        env = dict(os.environ, CHROMIUM=CHROMIUM)
        self.proc = subprocess.Popen(
            ["node", str(DRIVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )
        ready = self._read()
        if not ready.get("ready"):
            raise BrowserError(f"the browser did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise BrowserError(f"the browser driver exited ({self.proc.wait(timeout=10)})")
        return dict(json.loads(line))

    def do(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise BrowserError(f"{op} {args}: {answer['error']}")
        return answer["value"]

    def goto(self, url: str) -> dict[str, Any]:
        return dict(self.do("goto", url=url))

    def click(self, sel: str) -> None:
        self.do("click", sel=sel)

    def text(self, sel: str) -> str:
        return str(self.do("text", sel=sel) or "")

    def wait(self, sel: str, timeout: int = 15000) -> None:
        self.do("wait", sel=sel, timeout=timeout)

    def wait_text(self, sel: str, text: str, timeout: int = 15000) -> None:
        self.do("waitText", sel=sel, text=text, timeout=timeout)

    def eval(self, js: str) -> Any:
        return self.do("eval", js=js)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.do("screenshot", path=str(path))
        return path

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
