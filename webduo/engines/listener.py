"""The listening socket both engines bind before any worker starts."""

from __future__ import annotations

import math
import socket
from typing import Final


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
    """
    listener = socket.create_server((host, port), backlog=BACKLOG)
    if defer_accept is not None and hasattr(socket, "TCP_DEFER_ACCEPT"):
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, max(1, math.ceil(defer_accept)))
    listener.set_inheritable(True)
    return listener
