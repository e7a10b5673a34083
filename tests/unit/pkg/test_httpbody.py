"""A handed-over request body decoded where it lands: chunked and Content-Length, the prefix
the daemon had read, reads that stop at the body's end, and a connection cut short."""

from __future__ import annotations

import socket
import threading

import pytest

from ballena.pkg.httpbody import BodyReader


def _chunked(data: bytes, size: int) -> bytes:
    out = b"".join(
        f"{len(data[i : i + size]):x}\r\n".encode() + data[i : i + size] + b"\r\n" for i in range(0, len(data), size)
    )
    return out + b"0\r\n\r\n"


def _read_all(reader: BodyReader) -> bytes:
    out = bytearray()
    buf = bytearray(7000)
    while n := reader.readinto(buf):
        out += buf[:n]
    return bytes(out)


@pytest.mark.parametrize("split", [0, 5, 3000])
def test_a_chunked_body_from_the_prefix_then_the_socket(split: int) -> None:
    data = bytes(range(256)) * 400
    wire = _chunked(data, 4096)
    a, b = socket.socketpair()
    with a, b:
        sender = threading.Thread(
            target=lambda: (a.sendall(wire[split:] + b"NEXT REQUEST"), a.shutdown(socket.SHUT_WR))
        )
        sender.start()
        reader = BodyReader(b, "chunked", wire[:split])
        assert _read_all(reader) == data
        assert reader.readinto(bytearray(10)) == 0  # stays at the end
        sender.join()


def test_a_content_length_body_and_its_drain() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"world")
        reader = BodyReader(b, "length 10", b"hello")
        assert reader.read(3) == b"hel"
        reader.drain()
        assert reader.read(5) == b""


def test_a_connection_cut_short_and_bad_framings() -> None:
    a, b = socket.socketpair()
    with b:
        a.sendall(b"abc")
        a.close()
        reader = BodyReader(b, "length 100")
        with pytest.raises(EOFError, match="before the end of the body"):
            _read_all(reader)
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"zz\r\nnot hex\r\n")
        with pytest.raises(EOFError, match="malformed request body"):
            _read_all(BodyReader(b, "chunked"))
    with pytest.raises(ValueError):
        BodyReader(socket.socket(), "gzip")
