"""OSC over TCP (OSC 1.1, SLIP framing) on one selector thread and a fixed pool of handler threads.

No thread per connection and no blocking write: every connection has a bounded outgoing buffer that
the selector thread drains when the socket can take more. A client that lets it overflow
(``MAX_OUT_BYTES``), sends nothing for ``IDLE_S`` seconds with nothing waiting for it, or holds more
than ``MAX_QUEUED_FRAMES`` unanswered packets is disconnected. So the job worker, which sends job
events, never waits for a client, and the engine's threads stay fixed however many connect.

>>> server = OscTcpServer(("127.0.0.1", 0), router)  # needs an OscRouter on a running engine  # doctest: +SKIP
>>> threading.Thread(target=server.serve_forever).start()  # needs the server above  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pythonosc import slip
from pythonosc.osc_message_builder import build_msg

from ..engine.errors import EngineError
from .osc_parse import error_args, parse_packet

log = logging.getLogger(__name__)

MAX_TCP_PACKET = 16 * 1024 * 1024
#: bytes waiting to be written to one client before it is disconnected as not reading
MAX_OUT_BYTES = 4 * 1024 * 1024
#: OSC/TCP connections open at once; a further one gets one /mgb/error busy and is closed
MAX_CONNECTIONS = 64
#: seconds without traffic either way (and no packet of its being handled) before a connection is closed
IDLE_S = 300.0
#: packets received from one connection and not yet handled; beyond this a packet is answered busy
MAX_QUEUED_FRAMES = 64
#: handler threads shared by all OSC/TCP connections
HANDLER_THREADS = 4


def _error(code: str, message: str) -> bytes:
    return build_msg("/mgb/error", error_args("", code, message)).dgram


def _hang_up(sock: socket.socket) -> None:
    """FIN first, so a client with data in flight reads an orderly end rather than a reset."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()


class _Conn:
    def __init__(self, sock: socket.socket, address: Any) -> None:
        self.sock, self.address = sock, address
        self.inbuf = b""
        self.out: deque[bytes] = deque()
        self.out_bytes = 0
        self.frames: deque[bytes] = deque()
        self.busy = False  # a pool thread is working through self.frames
        self.closed = False
        self.last_seen = time.monotonic()
        self.lock = threading.Lock()


class OscTcpServer:
    """The socketserver-like surface BridgeServer uses: ``server_address``, ``serve_forever``,
    ``shutdown``, ``server_close``."""

    def __init__(self, address: tuple[str, int], router: Any, allow: Any = None,
                 idle_s: float = IDLE_S, max_connections: int = MAX_CONNECTIONS) -> None:
        self.router, self.allow = router, allow
        self.idle_s, self.max_connections = idle_s, max_connections
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(address)
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.server_address = self.listener.getsockname()
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self.listener, selectors.EVENT_READ, None)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._conns: dict[socket.socket, _Conn] = {}
        self._want_write: set[_Conn] = set()
        self._to_close: set[_Conn] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="mgb-osc-tcp")
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self.dropped = 0

    @property
    def connections(self) -> int:
        return len(self._conns)

    # -- from any thread ------------------------------------------------------------------
    def send(self, conn: _Conn, dgram: bytes) -> None:
        """Queue one packet for ``conn``; never waits. A client too far behind is disconnected."""
        data = slip.encode(dgram)
        with conn.lock:
            if conn.closed:
                return
            if conn.out_bytes + len(data) > MAX_OUT_BYTES:
                conn.closed = True
                conn.out.clear()
                self._note_drop(conn)
            else:
                conn.out.append(data)
                conn.out_bytes += len(data)
                conn.last_seen = time.monotonic()  # traffic either way keeps a connection from idling out
        with self._lock:
            (self._to_close if conn.closed else self._want_write).add(conn)
        self._wake()

    def _note_drop(self, conn: _Conn) -> None:
        self.dropped += 1
        if self.dropped & (self.dropped - 1) == 0:  # 1, 2, 4, 8...: a flood stays a few lines
            log.warning("OSC/TCP client %s stopped reading (over %d bytes waiting); disconnected (%d so far)",
                        conn.address, MAX_OUT_BYTES, self.dropped)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already woken (the pipe is full) or closing

    # -- lifecycle ------------------------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.1) -> None:
        try:
            while not self._stop.is_set():
                for key, events in self._sel.select(poll_interval):
                    if key.data == "wake":
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except BlockingIOError:
                            pass
                    elif key.data is None:
                        self._accept()
                    else:
                        conn = key.data
                        if events & selectors.EVENT_READ:
                            self._read(conn)
                        if events & selectors.EVENT_WRITE and not conn.closed:
                            self._write(conn)
                self._housekeeping()
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        self._stop.set()
        self._wake()
        self._stopped.wait(5)

    def server_close(self) -> None:
        for conn in list(self._conns.values()):
            self._close(conn)
        self._sel.close()
        self.listener.close()
        self._wake_r.close()
        self._wake_w.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the selector thread --------------------------------------------------------------
    def _accept(self) -> None:
        try:
            sock, address = self.listener.accept()
        except (BlockingIOError, OSError):
            return
        if self.allow is not None and not self.allow.check(address[0]):
            _hang_up(sock)
            return
        if len(self._conns) >= self.max_connections:
            try:  # one short, non-blocking word of why, then close
                sock.setblocking(False)
                sock.send(slip.encode(_error("busy", f"{self.max_connections} OSC/TCP connections are open; "
                                             "try again later")))
            except OSError:
                pass
            _hang_up(sock)
            return
        sock.setblocking(False)
        conn = _Conn(sock, address)
        self._conns[sock] = conn
        self._sel.register(sock, selectors.EVENT_READ, conn)

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.last_seen = time.monotonic()
        conn.inbuf += data
        while True:
            start = 1 if conn.inbuf.startswith(slip.END) else 0
            end = conn.inbuf.find(slip.END, start)
            if end < 0:
                break
            frame, conn.inbuf = conn.inbuf[:end + 1], conn.inbuf[end + 1:]
            if frame.strip(slip.END):
                self._queue_frame(conn, frame)
        if len(conn.inbuf) > MAX_TCP_PACKET:
            self.send(conn, _error("too_large", f"an OSC packet over {MAX_TCP_PACKET} bytes"))
            conn.inbuf = b""
            with conn.lock:
                conn.closed = True  # flush the error, then close
            with self._lock:
                self._want_write.add(conn)

    def _queue_frame(self, conn: _Conn, frame: bytes) -> None:
        with conn.lock:
            if len(conn.frames) >= MAX_QUEUED_FRAMES:
                full = True
            else:
                full = False
                conn.frames.append(frame)
                start = not conn.busy
                conn.busy = True
        if full:
            self.send(conn, _error("busy", f"{MAX_QUEUED_FRAMES} packets from this connection are waiting; "
                                   "wait for answers before sending more"))
        elif start:
            self._pool.submit(self._drain_frames, conn)

    def _write(self, conn: _Conn) -> None:
        with conn.lock:
            while conn.out:
                head = conn.out[0]
                try:
                    sent = conn.sock.send(head)
                except BlockingIOError:
                    return
                except OSError:
                    conn.out.clear()
                    conn.closed = True
                    break
                conn.out_bytes -= sent
                if sent < len(head):
                    conn.out[0] = head[sent:]
                    return
                conn.out.popleft()
            closing = conn.closed
        if closing:
            self._close(conn)
        else:
            self._sel.modify(conn.sock, selectors.EVENT_READ, conn)

    def _housekeeping(self) -> None:
        with self._lock:
            want, self._want_write = self._want_write, set()
            close, self._to_close = self._to_close, set()
        for conn in close:
            self._close(conn)
        for conn in want:
            if conn.sock in self._conns and conn.out:
                self._sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
        now = time.monotonic()
        for conn in list(self._conns.values()):
            if now - conn.last_seen > self.idle_s and not conn.out and not conn.busy:
                self._close(conn)

    def _close(self, conn: _Conn) -> None:
        with conn.lock:
            conn.closed = True
            conn.out.clear()
        if self._conns.pop(conn.sock, None) is not None:
            try:
                self._sel.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            conn.sock.close()

    # -- pool threads ---------------------------------------------------------------------
    def _drain_frames(self, conn: _Conn) -> None:
        """Handle one connection's packets in the order they came (one pool thread at a time per connection)."""
        while True:
            with conn.lock:
                if not conn.frames or conn.closed:
                    conn.frames.clear()
                    conn.busy = False
                    return
                frame = conn.frames.popleft()
            try:
                self._frame(conn, frame)
            except Exception:
                log.exception("OSC/TCP packet from %s failed", conn.address)

    def _frame(self, conn: _Conn, frame: bytes) -> None:
        def send(dgram: bytes) -> None:
            self.send(conn, dgram)

        try:
            messages = parse_packet(slip.decode(frame))
        except EngineError as exc:
            send(_error(exc.code, exc.message))
            return
        except slip.ProtocolError as exc:
            send(_error("bad_envelope", f"bad SLIP frame: {exc}"))
            return
        for address, args in messages:
            self.router.handle(address, args, conn.address, send)
