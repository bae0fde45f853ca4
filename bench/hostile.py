"""The hostile and careless clients of issue 14, all at once, for bench/load.py --hostile and the
acceptance test (tests/test_hostile_acceptance.py).

    crowd = HostileCrowd(addresses)   # addresses as BridgeServer.addresses / the serve ready file
    crowd.start(); ...; crowd.stop()

Present together: a ZeroMQ DEALER that floods requests and never reads; the 20-byte OSC bundle with
an element size of -4 over UDP and TCP; an OSC/TCP client that starts jobs and stops reading;
32 ZeroMQ `status` waiters; 64 idle connections (32 ZeroMQ DEALERs and 32 OSC/TCP sockets that never
send); a client that started a live session and vanished. Loopback only.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import zmq
from pythonosc.osc_message_builder import build_msg

MINUS_FOUR_BUNDLE = b"#bundle\x00" + struct.pack(">Q", 1) + struct.pack(">i", -4)
WAITERS = 32
IDLE_ZMQ = 32
IDLE_TCP = 32


def _slip(packet: bytes) -> bytes:
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


def _envelope(msg_type: str, content: dict[str, Any], session: str) -> bytes:
    return json.dumps({"header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "version": "1.0",
                                  "session": session}, "parent_header": {}, "content": content}).encode()


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


class HostileCrowd:
    def __init__(self, addresses: dict[str, str]) -> None:
        self.addr = addresses
        self.ctx = zmq.Context.instance()
        self._socks: list[Any] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.waits_answered = 0

    def _dealer(self, rcvhwm: int = 1000) -> zmq.Socket:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, rcvhwm)
        sock.connect(self.addr["zmq"])
        self._socks.append(sock)
        return sock

    def start(self) -> None:
        self._vanished_live_client()
        # a DEALER that sends thousands of requests and never reads a reply
        hog = self._dealer(rcvhwm=1)
        hog.setsockopt(zmq.SNDTIMEO, 0)
        for _ in range(3000):
            try:
                hog.send_multipart([b"", _envelope("models", {}, "hog")])
            except zmq.Again:
                break
        # the -4 bundle, over UDP and TCP
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(MINUS_FOUR_BUNDLE, _host_port(self.addr["osc_udp"]))
        self._socks.append(udp)
        if "osc_tcp" in self.addr:
            tcp = socket.create_connection(_host_port(self.addr["osc_tcp"]), timeout=5)
            tcp.sendall(_slip(MINUS_FOUR_BUNDLE))
            self._socks.append(tcp)
            self._non_reading_osc_tcp()
            for _ in range(IDLE_TCP):  # connected, silent
                self._socks.append(socket.create_connection(_host_port(self.addr["osc_tcp"]), timeout=5))
        for _ in range(IDLE_ZMQ):  # connected, silent
            self._dealer()
        thread = threading.Thread(target=self._waiters, name="hostile-waiters", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _non_reading_osc_tcp(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(5)
        sock.connect(_host_port(self.addr["osc_tcp"]))
        gen = build_msg("/mgb/generate", [json.dumps({"prompt": "hog", "bars": 1, "bpm": 120})]).dgram
        sock.sendall(_slip(gen) * 2)
        try:
            sock.sendall(_slip(build_msg("/mgb/models", []).dgram) * 2000)
        except OSError:
            pass  # the engine may already have dropped it
        self._socks.append(sock)

    def _vanished_live_client(self) -> None:
        dealer = self.ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(self.addr["zmq"])
        dealer.send_multipart([b"", _envelope("live_start", {"prompt": "gone", "model": "tiny", "bpm": 120,
                                                             "window_bars": 1, "ahead_bars": 1}, "vanished")])
        dealer.poll(20000)
        dealer.close(0)  # gone without live_stop

    def _waiters(self) -> None:
        """32 DEALERs each asking `status` with `wait: 30` on a running job, again whenever answered."""
        boss = self._dealer()
        boss.send_multipart([b"", _envelope("generate", {"prompt": "long", "bars": 4, "bpm": 120}, "boss")])
        if not boss.poll(20000):
            return
        job_id = self._long_job = json.loads(boss.recv_multipart()[1])["content"].get("job_id", "j-none")
        waiters = [self._dealer() for _ in range(WAITERS)]
        poller = zmq.Poller()
        for w in waiters:
            poller.register(w, zmq.POLLIN)
            w.send_multipart([b"", _envelope("status", {"job_id": job_id, "wait": 30}, "waiter")])
        while not self._stop.is_set():
            for sock, _ in poller.poll(100):
                content = json.loads(sock.recv_multipart()[1])["content"]
                self.waits_answered += 1
                if content.get("state") in ("done", "error", "cancelled", "interrupted"):
                    job_id = self._next_long_job(boss, job_id)  # wait on something running again
                sock.send_multipart([b"", _envelope("status", {"job_id": job_id, "wait": 30}, "waiter")])

    def _next_long_job(self, boss: zmq.Socket, current: str) -> str:
        if getattr(self, "_long_job", None) != current:
            return self._long_job  # another waiter started the next one already
        boss.send_multipart([b"", _envelope("generate", {"prompt": "long", "bars": 4, "bpm": 120}, "boss")])
        if boss.poll(20000):
            self._long_job = json.loads(boss.recv_multipart()[1])["content"].get("job_id", current)
        return self._long_job

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)
        for s in self._socks:
            with contextlib.suppress(Exception):  # closing what may be closed already
                s.close(0) if isinstance(s, zmq.Socket) else s.close()


def thread_count(pid: int) -> int | None:
    """Threads of a process (Linux /proc; None elsewhere)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return None


def wait_until(pred: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False
