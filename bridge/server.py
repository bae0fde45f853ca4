"""``musicgen-bridge serve``: one engine behind ZeroMQ and OSC at once.

>>> server = BridgeServer(engine, zmq_addr="tcp://127.0.0.1:*", pub_addr="tcp://127.0.0.1:*",
...                       osc_udp=("127.0.0.1", 0))  # binds sockets; needs an engine  # doctest: +SKIP
>>> server.start(); server.addresses  # binds sockets; needs an engine  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from ..engine.engine import Engine, EngineConfig
from ..engine.errors import EngineError
from .auth import OscAllowlist, ServerAuth, exposure_problem
from .client import events_address
from .handlers import RequestHandler
from .osc_server import OscRouter, OscTcpServer, OscUdpServer, start_in_thread
from .zmq_server import ZmqServer

log = logging.getLogger(__name__)


class BridgeServer:
    def __init__(self, engine: Engine, zmq_addr: str | None = "tcp://127.0.0.1:5555", pub_addr: str | None = None,
                 osc_udp: tuple[str, int] | None = ("127.0.0.1", 9000), osc_tcp: tuple[str, int] | None = None,
                 auth: Any = None, osc_allow: OscAllowlist | None = None, max_clients: int | None = None) -> None:
        self.engine = engine
        self.handler = RequestHandler(engine)
        self.router = OscRouter(self.handler)
        self.auth, self.osc_allow = auth, osc_allow
        self.zmq = ZmqServer(self.handler, zmq_addr, pub_addr or events_address(zmq_addr), auth=auth,
                             context=getattr(auth, "context", None), max_clients=max_clients) if zmq_addr else None
        self._osc_udp_addr, self._osc_tcp_addr = osc_udp, osc_tcp
        self.udp: OscUdpServer | None = None
        self.tcp: OscTcpServer | None = None

    def start(self) -> None:
        if self.zmq is not None:
            self.zmq.start()
        if self._osc_udp_addr is not None:
            self.udp = OscUdpServer(self._osc_udp_addr, self.router, allow=self.osc_allow)
            start_in_thread(self.udp, "mgb-osc-udp")
        if self._osc_tcp_addr is not None:
            self.tcp = OscTcpServer(self._osc_tcp_addr, self.router, allow=self.osc_allow)
            start_in_thread(self.tcp, "mgb-osc-tcp")
        self.handler.endpoints = dict(self.addresses)

    @property
    def addresses(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.zmq is not None:
            out["zmq"], out["zmq_events"] = self.zmq.bound["router"], self.zmq.bound["pub"]
        if self.udp is not None:
            out["osc_udp"] = "{}:{}".format(*self.udp.server_address[:2])
        if self.tcp is not None:
            out["osc_tcp"] = "{}:{}".format(*self.tcp.server_address[:2])
        return out

    def stop(self) -> None:
        for srv in (self.udp, self.tcp):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
        if self.zmq is not None:
            self.zmq.stop()
        if self.auth is not None:
            self.auth.stop()
        self.engine.close()
        self.handler.close()


def parse_host_port(text: str, name: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise EngineError("invalid_field", f"{name} must look like HOST:PORT, got {text!r}")
    return host, int(port)


@dataclass
class ServeSettings:
    """What ``musicgen-bridge serve`` runs: the engine's config and the bridge's listeners.

    >>> settings = ServeSettings(EngineConfig(default_model="tiny"), zmq="tcp://127.0.0.1:5555")
    >>> serve_forever(settings)            # serves until SIGINT/SIGTERM  # doctest: +SKIP
    0
    """

    config: EngineConfig
    zmq: str
    zmq_events: str | None = None  # None: the port after zmq's
    osc: str | None = None  # "HOST:PORT" for OSC over UDP; None or "off": no OSC
    osc_tcp: str | None = None  # "HOST:PORT" for OSC over TCP (SLIP)
    osc_allow: list[str] = field(default_factory=list)  # controllers allowed beyond loopback
    keys: str | None = None  # CURVE key folder; needed to serve ZeroMQ beyond loopback
    max_clients: int | None = None
    ready_file: str | None = None  # written with the bound addresses once serving


def check_addresses_free(zmq_addr: str, pub_addr: str, osc_udp: tuple[str, int] | None,
                         osc_tcp: tuple[str, int] | None) -> None:
    """Fail in milliseconds, before any model loads, when a port to listen on is taken.

    >>> check_addresses_free("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", None, None)  # '*': any free port
    """
    wanted: list[tuple[str, str, int, int]] = []
    for addr in (zmq_addr, pub_addr):
        head, _, digits = addr.rpartition(":")
        if addr.startswith("tcp://") and digits.isdigit():
            wanted.append((addr, head[len("tcp://"):].strip("[]"), int(digits), socket.SOCK_STREAM))
    osc: list[tuple[tuple[str, int] | None, int]] = [(osc_udp, socket.SOCK_DGRAM), (osc_tcp, socket.SOCK_STREAM)]
    for pair, sock_kind in osc:
        if pair is not None and pair[1]:
            wanted.append((f"{pair[0]}:{pair[1]}", pair[0], pair[1], sock_kind))
    for shown, host, port, kind in wanted:
        if host in ("*", ""):
            host = "0.0.0.0"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            with socket.socket(family, kind) as probe:
                if kind == socket.SOCK_STREAM:  # as ZeroMQ does: a closed socket's TIME_WAIT is no holder
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
        except socket.gaierror:
            continue  # a name the listeners resolve themselves; they report what fails
        except OSError as exc:
            raise EngineError("address_in_use", f"cannot listen on {shown}: {exc.strerror}; another program "
                              "(maybe another engine) holds it: stop it, or pick other ports with --zmq/--osc",
                              address=shown) from None


def _addresses(settings: ServeSettings) -> str:
    wanted = [settings.zmq, settings.zmq_events or "", settings.osc or "", settings.osc_tcp or ""]
    return ", ".join(a for a in wanted if a and a != "off")


def serve_forever(settings: ServeSettings) -> int:
    """Start the engine and the bridge, serve until SIGINT/SIGTERM, then stop both."""
    config = settings.config
    osc_udp = None if settings.osc in (None, "off") else parse_host_port(settings.osc, "--osc")
    osc_tcp = parse_host_port(settings.osc_tcp, "--osc-tcp") if settings.osc_tcp else None
    osc_allow = OscAllowlist(settings.osc_allow)
    problem = exposure_problem([settings.zmq, settings.zmq_events or settings.zmq],
                               [a[0] for a in (osc_udp, osc_tcp) if a], keys=bool(settings.keys),
                               osc_allow=bool(osc_allow))
    if problem:
        raise EngineError("unauthorized", problem)
    check_addresses_free(settings.zmq, settings.zmq_events or events_address(settings.zmq), osc_udp, osc_tcp)
    auth = ServerAuth(settings.keys) if settings.keys else None
    engine = Engine(config)  # loading models takes a while: the ports were checked first
    server = BridgeServer(engine, settings.zmq, settings.zmq_events, osc_udp, osc_tcp, auth=auth,
                          osc_allow=osc_allow, max_clients=settings.max_clients)
    try:
        server.start()
    except (OSError, zmq.ZMQError) as exc:  # a port taken by another program (or another engine)
        server.stop()
        raise EngineError("address_in_use", f"cannot listen on {_addresses(settings)}: {exc}; another program "
                          "(maybe another engine) holds the port: stop it, or pick other ports with --zmq/--osc") \
            from None
    engine.warm_up()
    info = {"pid": os.getpid(), **server.addresses, "default_model": config.default_model,
            "output_root": str(engine.paths.output_root), "executor": config.executor,
            "backend": config.executor}  # its pre-1.0 name, kept through 1.x
    print(f"musicgen-bridge: serving {json.dumps(info)}", file=sys.stderr, flush=True)
    if settings.ready_file:
        tmp = Path(settings.ready_file + ".part")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, settings.ready_file)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0
