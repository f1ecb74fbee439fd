"""The listening socket both engines bind before any worker starts."""

from __future__ import annotations

import errno
import math
import os
import socket
from typing import Any, Final

from webduo.engines.errors import StartupError


# The kernel queues this many finished handshakes per listening socket (capped by somaxconn).
BACKLOG: Final = 2048
# After an error response, read and drop what the client is still sending for this long before
# closing: closing with unread data makes the kernel send RST, which can destroy the response
# before the client reads it (RFC 9112 §9.6, "lingering close").
# Both engines use it, each in its own connection handling.
LINGER_SECONDS: Final = 2.0


def open_listener(
    host: str, port: int, *, defer_accept: float | None = None, reuse_port: bool = False
) -> socket.socket:
    """A bound, listening, inheritable socket: pre-forked workers all accept on it.

    With ``defer_accept`` (Linux ``TCP_DEFER_ACCEPT``), the kernel keeps a connection until its
    first bytes arrive, so a client that connects and says nothing never reaches a worker.
    With ``reuse_port``, other ``reuse_port`` sockets may listen on the same address: see
    :func:`reserve_port`. Raises :class:`StartupError` when the address cannot be bound (taken,
    no permission, unknown host).
    """
    try:
        listener = socket.create_server((host, port), backlog=BACKLOG, reuse_port=reuse_port)
    except OSError as exc:
        raise cannot_listen(host, port, exc) from None
    if defer_accept is not None and hasattr(socket, "TCP_DEFER_ACCEPT"):
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, max(1, math.ceil(defer_accept)))
    listener.set_inheritable(True)
    return listener


def reserve_port(host: str, port: int) -> socket.socket:
    """The address bound with ``SO_REUSEPORT`` but not listening, for workers that each listen on their own.

    Workers that accept from one inherited socket share its queue unevenly: whichever wakes
    first takes every connection that is waiting, and a burst of keep-alive clients can land
    on one worker while the others idle. Each worker listening on its own ``SO_REUSEPORT``
    socket (:func:`open_listener` with ``reuse_port``) gets the connections the kernel hashes
    to it instead. The master holds this socket so the port is taken (and a taken port found)
    before any worker starts, and for workers it respawns; never listening, it is not among
    the sockets the kernel hands connections to. Raises :class:`StartupError` like
    :func:`open_listener`, and also when something already listens there: another process of
    the same user with ``SO_REUSEPORT`` (a second webduo, say) would otherwise share the port
    silently instead of failing to start.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        reserved = socket.socket(family, kind, proto)
    except OSError as exc:
        raise cannot_listen(host, port, exc) from None
    if port and _answers(address):
        reserved.close()
        raise cannot_listen(host, port, OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE)))
    try:
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind(address)
    except OSError as exc:
        reserved.close()
        raise cannot_listen(host, port, exc) from None
    return reserved


def _answers(address: tuple[Any, ...]) -> bool:
    """Whether something accepts connections at ``address`` (a wildcard address: on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address[0], address[0])
    try:
        socket.create_connection((host, address[1]), timeout=0.5).close()
    except OSError:
        return False
    return True


def cannot_listen(host: str, port: int, error: OSError) -> StartupError:
    """The one-line reason an address cannot be listened on, as the user gave the address."""
    # socket.create_server appends the address to strerror, which the message already names; a
    # negative errno is getaddrinfo's (an unknown host), whose strerror is all there is.
    reason = os.strerror(error.errno) if error.errno and error.errno > 0 else error.strerror or str(error)
    return StartupError(f"cannot listen on {host}:{port}: {reason}")
