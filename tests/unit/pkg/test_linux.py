import os
import subprocess
import sys
import time

from ballena.pkg import linux


def test_exits_within_says_when_a_process_ends_and_waits_no_longer_than_asked() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        t0 = time.monotonic()
        assert not linux.exits_within(sleeper.pid, 0.1)
        assert 0.09 <= time.monotonic() - t0 < 5
        sleeper.kill()
        assert linux.exits_within(sleeper.pid, 5)  # a zombie now: exited, not yet reaped
    finally:
        sleeper.kill()
        sleeper.wait()
    assert linux.exits_within(sleeper.pid, 5)  # reaped: no such process
    assert not linux.exits_within(os.getpid(), 0)
