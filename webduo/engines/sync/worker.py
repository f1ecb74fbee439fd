"""One worker process: a selector loop that only moves bytes, and blocking request handling.

Why a selector in a "synchronous" server: a worker that blocks in ``recv`` waiting for the
next keep-alive request, or for the rest of a slowloris head, is a worker that serves nobody.
So waiting for bytes happens here, for every connection at once, with deadlines; a request is
handed to blocking code only once it is complete (head and body), and that code runs it start
to finish — the endpoint may sleep or compute as long as it likes.

- ``threads == 1`` (default): the request runs inline on this thread, strictly one at a time;
  meanwhile the kernel buffers other clients' bytes.
- ``threads > 1``: up to ``threads`` requests run at once in a small pool; this loop keeps
  reading, answering deadlines and writing.

Responses are written with one ``send`` of the whole message; only a client that reads slower
than we write makes us wait for writability, and that wait has its own deadline. An answer made
inline, to a client with nothing more buffered, is held until every connection the selector
reported has had its turn, then sent with the others: a send between two parses (and the
client's wake-up it causes) cost more kernel time than the parse itself (bench/README.md).
"""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
import os
import queue
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Final

from webduo.engines.http1.exchange import Timeouts, deadline_error
from webduo.engines.http1.parser import NEED_DATA, Message, ParserLimits, ProtocolError, RequestHead, RequestParser
from webduo.engines.http1.writer import CONTINUE
from webduo.engines.listener import LINGER_SECONDS
from webduo.engines.sync.responder import Responder
from webduo.settings import Settings


logger = logging.getLogger("webduo.sync")

RECV_SIZE: Final = 64 * 1024
# Accept a few connections per wake-up, not all: sibling workers woken by the same connection
# burst then get their share instead of one worker taking the whole backlog.
ACCEPT_BATCH: Final = 8
# Pipelined requests answered from one connection's buffer before the others get a turn: a
# client that pipelines thousands of requests must not monopolise a one-thread worker.
PIPELINE_BURST: Final = 16
# How often deadlines are checked: they are enforced to within this much.
SWEEP_INTERVAL: Final = 0.1


class GracePeriodOver(BaseException):
    """Raised into whatever runs when a stop's grace period ends.

    A BaseException so no endpoint or error envelope catches it as an ordinary failure.
    """


class Phase(enum.Enum):
    READING = "reading"  # waiting for (more of) a request
    BUSY = "busy"  # a complete request is with the endpoint
    WRITING = "writing"  # the client has not taken the whole response yet
    LINGERING = "lingering"  # error answered; draining the client's leftovers before close


class StopMode(enum.Enum):
    GRACEFUL = "graceful"  # SIGTERM: finish every started request, accept no new ones
    QUICK = "quick"  # SIGINT: finish only requests already being handled


class Connection:
    """The state of one client connection; touched by the loop only, except while BUSY."""

    __slots__ = (
        "client",
        "deadline",
        "events",
        "idle",
        "keep_alive_after",
        "linger_after",
        "outgoing",
        "parser",
        "phase",
        "sock",
    )

    def __init__(self, sock: socket.socket, client: str, parser: RequestParser, deadline: float) -> None:
        self.sock = sock
        self.client = client
        self.parser = parser
        self.phase = Phase.READING
        self.deadline = deadline
        self.idle = False  # between keep-alive requests: the idle timeout runs, not the head deadline
        self.events = 0  # what the selector watches for this socket
        self.outgoing: memoryview | None = None
        self.keep_alive_after = False
        self.linger_after = False


class Worker:
    """Serves one listening socket until told to stop; one per process."""

    def __init__(
        self,
        listener: socket.socket,
        responder: Responder,
        settings: Settings,
        *,
        parent_pid: int | None = None,
    ) -> None:
        self.listener = listener
        self.responder = responder
        self.limits = ParserLimits.from_settings(settings)
        self.timeouts = Timeouts.from_settings(settings)
        self.max_connections = settings.max_connections
        self.parent_pid = parent_pid
        self.selector = selectors.DefaultSelector()
        self.connections: set[Connection] = set()
        self.accepting = False
        self.stop_mode: StopMode | None = None
        self.stop_deadline = 0.0
        self._stop_applied: StopMode | None = None
        self._in_loop = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._ready: collections.deque[Connection] = collections.deque()
        self._held: list[tuple[Connection, bytes]] = []  # inline answers sent when this loop turn ends
        self._completions: collections.deque[tuple[Connection, bytes, bool]] = collections.deque()
        self._jobs: queue.SimpleQueue[tuple[Connection, Message] | None] = queue.SimpleQueue()
        self._busy = 0  # requests with the pool (queued or running)
        self._threads = [
            threading.Thread(target=self._pool_thread, name=f"webduo-sync-{n}", daemon=True)
            for n in range(settings.threads if settings.threads > 1 else 0)
        ]

    # -- lifecycle -----------------------------------------------------------------------------

    def run(self, early_signals: Sequence[int] = ()) -> None:
        """Serve until SIGTERM/SIGINT (or the master's death) and every started request is answered.

        ``early_signals`` arrived before this loop took the handlers over; they count as if now.
        """
        self.listener.setblocking(False)
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._resume_accepting()
        previous_wakeup = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        for signum in early_signals:
            self._on_signal(signum, None)
        previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._on_grace_over)
        for thread in self._threads:
            thread.start()
        try:
            self._in_loop = True
            self._loop()
            self._in_loop = False
        except GracePeriodOver:
            logger.warning("grace period over: closing %d connection(s) without waiting", len(self.connections))
        finally:
            self._in_loop = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_wakeup)
            for _ in self._threads:
                self._jobs.put(None)
            for conn in list(self.connections):
                self._close(conn)
            self.selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def stop(self, mode: StopMode) -> None:
        """Ask the loop to stop; safe from a signal handler (it sets fields and arms a timer)."""
        if self.stop_mode is None:
            self.stop_deadline = time.monotonic() + self.timeouts.graceful
            # The loop enforces the deadline itself, but not while an inline request holds the
            # thread: the alarm interrupts that request when the grace period is over.
            signal.setitimer(signal.ITIMER_REAL, self.timeouts.graceful + SWEEP_INTERVAL)
        if self.stop_mode is not StopMode.QUICK:
            self.stop_mode = mode

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop(StopMode.QUICK if signum == signal.SIGINT else StopMode.GRACEFUL)

    def _on_grace_over(self, _signum: int, _frame: FrameType | None) -> None:
        if self._in_loop:
            raise GracePeriodOver

    def _loop(self) -> None:
        next_sweep = time.monotonic() + SWEEP_INTERVAL
        while True:
            for key, mask in self.selector.select(0 if self._ready else SWEEP_INTERVAL):
                conn = key.data
                if conn is None:
                    self._drain_wakeups()
                elif isinstance(conn, Connection):
                    self._on_event(conn, mask)
                else:
                    self._accept()
            if self._ready:
                self._take_turns()
            if self._held:
                self._send_held()
            now = time.monotonic()
            if now >= next_sweep:
                next_sweep = now + SWEEP_INTERVAL
                self._sweep(now)
            if self.stop_mode is not None:
                self._apply_stop()
                if not self.connections:
                    return
                if now >= self.stop_deadline:
                    raise GracePeriodOver

    def _take_turns(self) -> None:
        ready, self._ready = self._ready, collections.deque()
        for conn in ready:
            if conn in self.connections and conn.phase is Phase.READING:
                self._guarded(conn, self._advance)

    # -- accepting -----------------------------------------------------------------------------

    def _update_accepting(self) -> None:
        """Accept while there is room: under ``max_connections`` and, with a pool, an idle thread.

        Pre-forked workers share one listening socket and the first to wake takes the
        connection; a worker whose threads are all busy leaves it in the backlog for a sibling
        instead. Without this, one worker could take all of a burst of keep-alive clients and
        serve them ``threads`` at a time while the other idled (seen in the bench: 16/0 splits).
        """
        room = len(self.connections) < self.max_connections
        idle_thread = not self._threads or self._busy < len(self._threads)
        if self.stop_mode is None and room and idle_thread:
            self._resume_accepting()
        else:
            self._pause_accepting()

    def _resume_accepting(self) -> None:
        if not self.accepting:
            self.selector.register(self.listener, selectors.EVENT_READ, self.listener)
            self.accepting = True

    def _pause_accepting(self) -> None:
        if self.accepting:
            self.selector.unregister(self.listener)
            self.accepting = False

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE, ENOBUFS, ...: keep serving who we have
                logger.warning("accept failed: %s", exc)
                return
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # reset before we got to it
                sock.close()
                continue
            client = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
            # Until its first byte the connection is idle, as between keep-alive requests: it gets
            # the idle timeout and a silent close, the head deadline only once a request begins.
            conn = Connection(sock, client, RequestParser(self.limits), time.monotonic() + self.timeouts.keepalive)
            conn.idle = True
            self.connections.add(conn)
            self._update_accepting()
            # With TCP_DEFER_ACCEPT the request is usually here already: read it without another select.
            self._guarded(conn, self._on_readable)
            if not self.accepting:
                return

    # -- connection events ---------------------------------------------------------------------

    def _on_event(self, conn: Connection, mask: int) -> None:
        if mask & selectors.EVENT_WRITE and conn.phase is Phase.WRITING:
            self._guarded(conn, self._on_writable)
        elif mask & selectors.EVENT_READ:
            self._guarded(conn, self._on_readable)

    def _guarded(self, conn: Connection, step: Callable[[Connection], None]) -> None:
        """No client can crash the worker: an unexpected failure costs that one connection."""
        try:
            step(conn)
        except Exception:
            logger.exception("dropping connection from %s after an internal error", conn.client)
            self._close(conn)

    def _on_readable(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            self._watch(conn, selectors.EVENT_READ)
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)  # the client went away; nobody is left to answer
            return
        if conn.phase is Phase.LINGERING:
            return
        if conn.idle:
            conn.idle = False
            conn.deadline = time.monotonic() + self.timeouts.head
        conn.parser.feed(data)
        self._advance(conn)

    def _advance(self, conn: Connection) -> None:
        """Take events from the parser until it needs bytes or a request is handed over."""
        parser = conn.parser
        for _ in range(PIPELINE_BURST):
            try:
                event = parser.next_event()
            except ProtocolError as error:
                self._refuse(conn, error)
                return
            if event is NEED_DATA:
                self._await_bytes(conn)
                return
            if isinstance(event, RequestHead):
                conn.deadline = time.monotonic() + self.timeouts.body
                if event.expect_continue:
                    self._send_continue(conn)
                continue
            conn.phase = Phase.BUSY
            if self._threads:
                self._watch(conn, 0)
                self._jobs.put((conn, event))
                self._busy += 1
                self._update_accepting()
                return
            data, keep_alive = self.responder.answer(event, conn.client, self._running)
            if keep_alive and not parser.buffered:
                # Nothing else of this client's to parse: its answer goes out with the turn's others.
                self._held.append((conn, data))
                return
            if not self._write(conn, data, keep_alive):
                return
        self._ready.append(conn)  # more may be buffered: let the other connections have a turn first

    def _running(self) -> bool:
        return self.stop_mode is None

    def _await_bytes(self, conn: Connection) -> None:
        if not conn.parser.in_message and self.stop_mode is not None:
            self._close(conn)  # idle while draining: nothing started, nothing to finish
            return
        conn.phase = Phase.READING
        self._watch(conn, selectors.EVENT_READ)

    def _send_continue(self, conn: Connection) -> None:
        """RFC 9110 §10.1.1: tell a waiting client to send the body, since we are going to read it."""
        # A client that cannot take these 25 bytes will fail the body deadline instead.
        with contextlib.suppress(OSError):
            conn.sock.send(CONTINUE)

    def _refuse(self, conn: Connection, error: ProtocolError) -> None:
        conn.phase = Phase.BUSY
        data = self.responder.refuse(conn.parser, conn.client, error)
        self._write(conn, data, keep_alive=False, linger=True)

    # -- writing -------------------------------------------------------------------------------

    def _write(self, conn: Connection, data: bytes, keep_alive: bool, *, linger: bool = False) -> bool:
        """Send a whole response; True when it went out and the connection stays open for more."""
        try:
            sent = conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return False
        if sent < len(data):
            conn.outgoing = memoryview(data)[sent:]
            conn.keep_alive_after = keep_alive
            conn.phase = Phase.WRITING
            conn.deadline = time.monotonic() + self.timeouts.send
            conn.linger_after = linger
            self._watch(conn, selectors.EVENT_WRITE)
            return False
        return self._after_response(conn, keep_alive, linger=linger)

    def _send_held(self) -> None:
        held, self._held = self._held, []
        for conn, data in held:
            self._send_answer(conn, data, keep_alive=True)

    def _send_answer(self, conn: Connection, data: bytes, keep_alive: bool) -> None:
        """Send an answer made outside :meth:`_advance` (held, or from the pool); then read on."""
        if conn not in self.connections:
            return
        try:
            if self._write(conn, data, keep_alive):
                self._advance(conn)
        except Exception:
            logger.exception("dropping connection from %s after an internal error", conn.client)
            self._close(conn)

    def _on_writable(self, conn: Connection) -> None:
        outgoing = conn.outgoing
        if outgoing is None:
            return
        try:
            sent = conn.sock.send(outgoing)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if sent < len(outgoing):
            conn.outgoing = outgoing[sent:]
            return
        conn.outgoing = None
        if self._after_response(conn, conn.keep_alive_after, linger=conn.linger_after):
            self._advance(conn)

    def _after_response(self, conn: Connection, keep_alive: bool, *, linger: bool) -> bool:
        if not keep_alive:
            if linger or conn.parser.buffered:
                self._linger(conn)
            else:
                self._close(conn)
            return False
        now = time.monotonic()
        conn.phase = Phase.READING
        if conn.parser.buffered:
            conn.idle = False
            conn.deadline = now + self.timeouts.head
        else:
            conn.idle = True
            conn.deadline = now + self.timeouts.keepalive
        return True

    def _linger(self, conn: Connection) -> None:
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.phase = Phase.LINGERING
        conn.deadline = time.monotonic() + LINGER_SECONDS
        self._watch(conn, selectors.EVENT_READ)

    # -- the pool (threads > 1) ----------------------------------------------------------------

    def _pool_thread(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            conn, message = job
            data, keep_alive = self.responder.answer(message, conn.client, self._running)
            self._completions.append((conn, data, keep_alive))
            # A full buffer means wake-ups are pending already: the loop will see this one too.
            with contextlib.suppress(OSError):
                self._wake_w.send(b"\0")

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while self._completions:
            conn, data, keep_alive = self._completions.popleft()
            self._busy -= 1
            self._update_accepting()
            self._send_answer(conn, data, keep_alive)

    # -- deadlines and stopping ----------------------------------------------------------------

    def _sweep(self, now: float) -> None:
        if self.stop_mode is None and self.parent_pid is not None and os.getppid() != self.parent_pid:
            logger.warning("the master process is gone; stopping")
            self.stop(StopMode.GRACEFUL)
        for conn in list(self.connections):
            if conn.phase is not Phase.BUSY and now >= conn.deadline:
                self._guarded(conn, self._expire)

    def _expire(self, conn: Connection) -> None:
        if conn.phase is Phase.READING and conn.parser.in_message and not conn.idle:
            self._refuse(conn, deadline_error(conn.parser, self.timeouts))
        else:
            self._close(conn)  # idle keep-alive, a client that stopped reading, or lingering done

    def _apply_stop(self) -> None:
        mode = self.stop_mode
        if mode is None or self._stop_applied is mode:
            return
        self._stop_applied = mode
        self._pause_accepting()
        for conn in list(self.connections):
            if conn.phase is Phase.READING and (conn.idle or not conn.parser.in_message or mode is StopMode.QUICK):
                self._close(conn)

    # -- plumbing ------------------------------------------------------------------------------

    def _watch(self, conn: Connection, events: int) -> None:
        if events == conn.events:
            return
        if conn.events == 0:
            self.selector.register(conn.sock, events, conn)
        elif events == 0:
            self.selector.unregister(conn.sock)
        else:
            self.selector.modify(conn.sock, events, conn)
        conn.events = events

    def _close(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        if conn.events:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn.sock)
            conn.events = 0
        conn.sock.close()
        self._update_accepting()
