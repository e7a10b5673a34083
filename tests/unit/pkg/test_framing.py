import os
import socket

import pytest

from ballena.pkg import framing


def test_frames_roundtrip_in_pieces() -> None:
    data = framing.encode_json({"op": "kill"}) + framing.encode(framing.STDOUT, b"hello")
    d = framing.Decoder()
    got = []
    for i in range(len(data)):
        got += d.feed(data[i : i + 1])
    assert got == [(framing.JSON, b'{"op":"kill"}'), (framing.STDOUT, b"hello")]
    assert d.pending == 0


def test_an_incomplete_frame_is_held_back() -> None:
    d = framing.Decoder()
    frame = framing.encode(framing.STDERR, b"abc")
    assert d.feed(frame[:-1]) == []
    assert d.pending == len(frame) - 1
    assert d.feed(frame[-1:]) == [(framing.STDERR, b"abc")]


@pytest.mark.parametrize(
    "data", [b"X\x00\x00\x00\x01a", framing.HEADER.pack(framing.JSON, framing.MAX_FRAME + 1)], ids=["kind", "size"]
)
def test_a_stream_that_is_not_frames_is_refused(data: bytes) -> None:
    with pytest.raises(framing.FrameError):
        framing.Decoder().feed(data)


def test_send_and_recv_whole_frames_larger_than_the_socket_buffer() -> None:
    a, b = socket.socketpair()
    big = os.urandom(3 << 20)
    try:
        import threading

        t = threading.Thread(target=framing.send, args=(a, framing.STDIN, big))
        t.start()
        got = framing.recv(b)
        t.join()
        assert got == (framing.STDIN, big, [])
    finally:
        a.close()
        b.close()


def test_fds_ride_on_the_header() -> None:
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        framing.send_json(a, {"hello": 1}, [w])
        obj, fds = framing.recv_json(b)
        assert obj == {"hello": 1} and len(fds) == 1
        os.write(fds[0], b"through")
        assert os.read(r, 16) == b"through"
        os.close(fds[0])
    finally:
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()


def test_recv_json_skips_data_and_ends_cleanly() -> None:
    a, b = socket.socketpair()
    framing.send(a, framing.STDOUT, b"output")
    framing.send_json(a, {"x": 1})
    a.close()
    assert framing.recv_json(b) == ({"x": 1}, [])
    assert framing.recv_json(b) == (None, [])
    b.close()


def test_a_frame_cut_short_is_an_error() -> None:
    a, b = socket.socketpair()
    a.sendall(framing.encode(framing.JSON, b'{"a":1}')[:-2])
    a.close()
    with pytest.raises(framing.FrameError):
        framing.recv(b)
    b.close()


def test_a_json_frame_must_hold_an_object() -> None:
    a, b = socket.socketpair()
    a.sendall(framing.encode(framing.JSON, b"[1]"))
    with pytest.raises(framing.FrameError):
        framing.recv_json(b)
    a.close()
    b.close()
