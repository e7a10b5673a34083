import selectors
import socket

from ballena.pkg import framing
from ballena.shim import messages
from ballena.shim.connections import Connections


def _pair() -> tuple[Connections, socket.socket, socket.socket]:
    sel = selectors.DefaultSelector()
    ours, theirs = socket.socketpair()
    return Connections(sel), ours, theirs


def test_send_writes_now_and_queues_what_does_not_fit() -> None:
    conns, ours, theirs = _pair()
    c = conns.add(ours, "control")
    conns.send(c, framing.encode(framing.STDOUT, b"x" * (8 << 20)))
    assert len(c.wbuf) > 0  # the socket took part of it
    assert conns.output_backlog() == 0  # not attached to output
    c.out = True
    assert conns.output_backlog() == len(c.wbuf)
    theirs.setblocking(False)
    total = 0
    while c.wbuf:
        try:
            total += len(theirs.recv(1 << 20))
        except BlockingIOError:
            pass
        conns.flush(c)
    conns.close(c)
    theirs.close()


def test_broadcast_reaches_control_connections_only() -> None:
    conns, ours, theirs = _pair()
    other_ours, other_theirs = socket.socketpair()
    conns.add(ours, "control")
    conns.add(other_ours, "request")
    conns.broadcast(messages.Started(pid=3))
    obj, _ = framing.recv_json(theirs)
    assert messages.decode_event(obj or {}) == messages.Started(pid=3)
    other_theirs.setblocking(False)
    try:
        other_theirs.recv(10)
        raise AssertionError("a request connection got a broadcast")
    except BlockingIOError:
        pass
    for s in (theirs, other_theirs):
        s.close()


def test_close_forgets_and_a_closed_peer_closes() -> None:
    conns, ours, theirs = _pair()
    c = conns.add(ours)
    theirs.close()
    conns.send(c, b"x" * 100)
    conns.send(c, b"x" * (4 << 20))
    conns.close(c)
    assert c.closed and c not in conns.all


def test_drain_all_half_closes_after_the_last_byte() -> None:
    conns, ours, theirs = _pair()
    c = conns.add(ours, "control")
    c.wbuf += b"tail"
    conns.drain_all(deadline=__import__("time").monotonic() + 1)
    assert theirs.recv(10) == b"tail"
    assert theirs.recv(10) == b""
    theirs.close()
