import socket

import pytest

from ballena.errors import Conflict
from ballena.network.ports import PortPublisher, PortRequest


def test_reserve_binds_and_a_taken_port_fails_in_dockers_words() -> None:
    p = PortPublisher()
    bound = p.reserve("a" * 64, "web", [PortRequest(proto="tcp", container_port=80, host_ip="127.0.0.1")], "10.0.0.2")
    port = bound[0].host_port
    assert port > 0
    with pytest.raises(Conflict) as e:
        p.reserve(
            "b" * 64,
            "api",
            [PortRequest(proto="tcp", container_port=80, host_ip="127.0.0.1", host_port=port)],
            "10.0.0.3",
        )
    assert e.value.message.startswith("driver failed programming external connectivity on endpoint api (bbbbbbbbbbbb)")
    assert "port is already allocated" in e.value.message
    assert p.release("a" * 64) is False  # reserved, never published
    s = socket.socket()
    s.bind(("127.0.0.1", port))  # free again
    s.close()


def test_a_failed_reservation_binds_nothing() -> None:
    p = PortPublisher()
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    taken = holder.getsockname()[1]
    holder.listen()
    try:
        with pytest.raises(Conflict):
            p.reserve("c" * 64, "x", [PortRequest(proto="tcp", container_port=1, host_ip="127.0.0.1"),
                                     PortRequest(proto="tcp", container_port=2, host_ip="127.0.0.1", host_port=taken)], "10.0.0.4")  # fmt: skip
        assert p.rules() == []
    finally:
        holder.close()
