"""`musicez serve` refuses a port another server listens on, but not one that only holds the
TIME_WAIT connections of a server that just stopped (a restart within a minute)."""

from __future__ import annotations

import socket
import time

import pytest

from musicez.entrypoints.preflight import port_is_free

HOST = "127.0.0.1"


def _listener(host: str = HOST, port: int = 0, reuse_port: bool = False) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:  # as granian binds
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    server.bind((host, port))
    server.listen()
    return server


def _plain_bind_fails(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def _port_in_time_wait() -> int:
    """A port with nothing listening on it any more, only a connection in TIME_WAIT: the server
    side closed first, as a stopping server does."""
    listener = _listener()
    port = listener.getsockname()[1]
    client = socket.create_connection((HOST, port))
    accepted, _ = listener.accept()
    accepted.close()  # the server's active close: its side ends in TIME_WAIT
    assert client.recv(1) == b""
    client.close()
    listener.close()
    time.sleep(0.05)
    return int(port)


def test_a_port_another_socket_listens_on_is_taken() -> None:
    with _listener() as listener:
        assert not port_is_free(HOST, listener.getsockname()[1])


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
def test_a_port_a_running_server_listens_on_is_taken_also_on_every_address() -> None:
    with _listener(reuse_port=True) as listener:
        assert not port_is_free(HOST, listener.getsockname()[1])
    with _listener("0.0.0.0", reuse_port=True) as listener:  # the wildcard a server may listen on
        port = listener.getsockname()[1]
        assert not port_is_free(HOST, port)
        assert not port_is_free("0.0.0.0", port)


def test_a_port_with_only_time_wait_connections_is_free() -> None:
    port = _port_in_time_wait()
    # A bind without SO_REUSEADDR (the check before) is refused by the TIME_WAIT alone.
    assert _plain_bind_fails(port), "no TIME_WAIT left on the port: the test proves nothing"
    assert port_is_free(HOST, port)


def test_a_port_nobody_uses_is_free() -> None:
    with _listener() as listener:
        port = listener.getsockname()[1]
    assert port_is_free(HOST, port)
