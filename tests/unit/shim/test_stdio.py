import os

from ballena.pkg import framing
from ballena.shim import stdio


def test_pipes_give_the_child_three_ends_and_us_the_others() -> None:
    child, io = stdio.pipes(stdin=True)
    try:
        assert io.stdin is not None and len(io.outputs) == 2
        os.write(child[1], b"out")
        os.write(child[2], b"err")
        got = {kind: os.read(fd, 10) for fd, kind in io.outputs.items()}
        assert got == {framing.STDOUT: b"out", framing.STDERR: b"err"}
        os.write(io.stdin, b"in")
        assert os.read(child[0], 10) == b"in"
    finally:
        stdio.close_child_ends(child)
        io.close()
    assert io.outputs == {} and io.stdin is None


def test_without_stdin_the_child_reads_dev_null() -> None:
    child, io = stdio.pipes(stdin=False)
    try:
        assert io.stdin is None
        assert os.read(child[0], 10) == b""
    finally:
        stdio.close_child_ends(child)
        io.close()


def test_a_terminal_is_one_master_for_output_and_input() -> None:
    master, slave = os.openpty()
    io = stdio.terminal(master, stdin=True, console_size=(33, 99))
    try:
        assert io.outputs == {master: framing.STDOUT} and io.master == master and io.stdin not in (None, master)
        import fcntl
        import struct
        import termios

        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(slave, termios.TIOCGWINSZ, b"\0" * 8))
        assert (rows, cols) == (33, 99)
    finally:
        io.close()
        os.close(slave)
