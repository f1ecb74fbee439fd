"""The listening socket both engines bind before any worker starts."""

from __future__ import annotations

import math
import os
import socket
from typing import Final

from webduo.engines.errors import StartupError


# The kernel queues this many finished handshakes per listening socket (capped by somaxconn).
BACKLOG: Final = 2048
# After an error response, read and drop what the client is still sending for this long before
# closing: closing with unread data makes the kernel send RST, which can destroy the response
# before the client reads it (RFC 9112 §9.6, "lingering close").
# Both engines use it, each in its own connection handling.
LINGER_SECONDS: Final = 2.0


def open_listener(host: str, port: int, *, defer_accept: float | None = None) -> socket.socket:
    """A bound, listening, inheritable socket: pre-forked workers all accept on it.

    With ``defer_accept`` (Linux ``TCP_DEFER_ACCEPT``), the kernel keeps a connection until its
    first bytes arrive, so a client that connects and says nothing never reaches a worker.
    Raises :class:`StartupError` when the address cannot be bound (taken, no permission, unknown host).
    """
    try:
        listener = socket.create_server((host, port), backlog=BACKLOG)
    except OSError as exc:
        # create_server appends the address to strerror, which the message already names; a
        # negative errno is getaddrinfo's (an unknown host), whose strerror is all there is.
        reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror or str(exc)
        raise StartupError(f"cannot listen on {host}:{port}: {reason}") from None
    if defer_accept is not None and hasattr(socket, "TCP_DEFER_ACCEPT"):
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, max(1, math.ceil(defer_accept)))
    listener.set_inheritable(True)
    return listener
