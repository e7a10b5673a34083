"""A handed-over request body decoded where it lands: chunked and Content-Length, the prefix
the daemon had read, reads that stop at the body's end, and a connection cut short."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

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


def _pipe_through(wire: bytes, framing: str, split: int = 0) -> tuple[BodyReader, socket.socket, threading.Thread]:
    a, b = socket.socketpair()
    sender = threading.Thread(target=lambda: (a.sendall(wire[split:]), a.shutdown(socket.SHUT_WR), a.close()))
    sender.start()
    return BodyReader(b, framing, wire[:split]), b, sender


@pytest.mark.parametrize("chunk", [1, 7, 4096, 32768, 1 << 20])
def test_copy_to_writes_exactly_the_payload_whatever_the_chunks(chunk: int, tmp_path: Path) -> None:
    data = os.urandom(300_000) if chunk > 1 else os.urandom(5000)
    reader, sock, sender = _pipe_through(_chunked(data, chunk), "chunked", split=3)
    with sock, open(tmp_path / "out", "wb") as f:
        reader.copy_to(f.fileno(), 1000)
        assert reader.read_exact(10) == data[1000:1010]
        reader.skip(90)
        assert reader.tell() == 1100
        reader.copy_to(f.fileno(), len(data) - 1100)
        assert reader.read(5) == b""
    sender.join()
    assert (tmp_path / "out").read_bytes() == data[:1000] + data[1100:]


def test_chunk_extensions_and_trailers_are_passed_over() -> None:
    wire = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n"
    reader, sock, sender = _pipe_through(wire, "chunked")
    with sock:
        assert reader.read() == b"hello world"
    sender.join()


@pytest.mark.parametrize(
    "wire, message",
    [
        (b"5\r\nhelloXX\r\n0\r\n\r\n", "longer than its size"),
        (b"0x5\r\nhello\r\n0\r\n\r\n", "bad chunk size"),
        (b"1_0\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n", "bad chunk size"),
        (b"5\nhello\r\n0\r\n\r\n", "not ended by CRLF"),
        (b"f" * 5000, "too long"),
        (b"5\r\nhel", "before the end of the body"),
    ],
)
def test_malformed_chunked_framing_is_an_eof_error(wire: bytes, message: str) -> None:
    reader, sock, sender = _pipe_through(wire, "chunked")
    with sock, pytest.raises(EOFError, match=message):
        reader.read()
    sender.join()


def test_a_content_length_body_never_reads_past_its_end(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    reader, sock, sender = _pipe_through(data + b"GET /next HTTP/1.1\r\n\r\n", f"length {len(data)}", split=10)
    with sock, open(tmp_path / "out", "wb") as f:
        reader.copy_to(f.fileno(), len(data))
        with pytest.raises(EOFError):
            reader.copy_to(f.fileno(), 1)
        assert sock.recv(100) == b"GET /next HTTP/1.1\r\n\r\n"  # still on the connection
    sender.join()
    assert (tmp_path / "out").read_bytes() == data
