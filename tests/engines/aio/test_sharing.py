"""``webduo.engines.aio.sharing``: a shared listening socket is accepted from a few connections a turn."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator

import pytest

from webduo.engines.aio.sharing import ACCEPTS_PER_TURN, AcceptInTurns


class CountingSocket(socket.socket):
    """A listening socket that counts the connections taken from it."""

    accepted = 0

    def accept(self) -> tuple[socket.socket, object]:
        connection, address = super().accept()
        self.accepted += 1
        return connection, address


class Recorder(asyncio.Protocol):
    def __init__(self, made: list[asyncio.BaseTransport]) -> None:
        self.made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)


@pytest.fixture
def listener() -> Iterator[CountingSocket]:
    sock = CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


def queue_connections(listener: socket.socket, count: int) -> list[socket.socket]:
    """``count`` connections waiting in ``listener``'s accept queue (the handshake is the kernel's)."""
    return [socket.create_connection(listener.getsockname()) for _ in range(count)]


async def settle(done: Callable[[], bool], *, seconds: float = 2.0) -> None:
    for _ in range(int(seconds / 0.005)):
        if done():
            return
        await asyncio.sleep(0.005)


async def test_one_readable_turn_takes_a_few_and_leaves_the_rest(listener: CountingSocket) -> None:
    clients = queue_connections(listener, ACCEPTS_PER_TURN + 4)
    made: list[asyncio.BaseTransport] = []
    acceptor = AcceptInTurns(listener, lambda: Recorder(made), asyncio.get_running_loop())
    try:
        acceptor._accept()  # what the loop calls once each turn it finds the socket readable
        assert listener.accepted == ACCEPTS_PER_TURN  # the rest stay queued for another worker
        await settle(lambda: len(made) == len(clients))  # later turns take the rest
        assert listener.accepted == len(clients)
        assert len(made) == len(clients)
    finally:
        acceptor.close()
        for transport in made:
            transport.close()
        for client in clients:
            client.close()


async def test_a_closed_acceptor_takes_nothing_more(listener: CountingSocket) -> None:
    acceptor = AcceptInTurns(listener, lambda: Recorder([]), asyncio.get_running_loop())
    acceptor.close()
    assert not acceptor.is_serving()
    clients = queue_connections(listener, 2)
    try:
        await asyncio.sleep(0.05)
        assert listener.accepted == 0
        await asyncio.wait_for(acceptor.serve_forever(), 1)  # returns: closed
        await acceptor.wait_closed()
    finally:
        for client in clients:
            client.close()
