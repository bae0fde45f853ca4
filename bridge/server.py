"""``musicgen-bridge serve``: one engine behind ZeroMQ and OSC at once.

>>> server = BridgeServer(engine, zmq_addr="tcp://127.0.0.1:*", pub_addr="tcp://127.0.0.1:*",
...                       osc_udp=("127.0.0.1", 0))          # doctest: +SKIP
>>> server.start(); server.addresses                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ..engine.executors.options import serve_executor
from ..engine.engine import Engine, EngineConfig
from ..engine.jobs.journal import default_path as journal_default
from ..engine.errors import EngineError
from ..engine.models.registry import DEFAULT_MODEL

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
            out["osc_udp"] = "%s:%d" % self.udp.server_address[:2]
        if self.tcp is not None:
            out["osc_tcp"] = "%s:%d" % self.tcp.server_address[:2]
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


def serve_forever(args: Any) -> int:
    models = args.model or []
    config = EngineConfig(device=args.device, dtype=args.dtype, cache_dir=args.cache_dir,
                          default_model=models[0] if models else DEFAULT_MODEL, preload=list(models),
                          output_root=args.output_root, allowed_dirs=list(args.allow_dir),
                          journal=None if args.journal == "off" else (args.journal or journal_default()))
    if args.max_queue:
        config.max_queue = args.max_queue
    config.executor, config.executor_options = serve_executor(args)
    osc_udp = None if args.osc in (None, "off") else parse_host_port(args.osc, "--osc")
    osc_tcp = parse_host_port(args.osc_tcp, "--osc-tcp") if args.osc_tcp else None
    osc_allow = OscAllowlist(args.osc_allow)
    problem = exposure_problem([args.zmq, args.zmq_events or args.zmq], [a[0] for a in (osc_udp, osc_tcp) if a],
                               keys=bool(args.keys), osc_allow=bool(osc_allow))
    if problem:
        raise EngineError("unauthorized", problem)
    auth = ServerAuth(args.keys) if args.keys else None
    engine = Engine(config)
    server = BridgeServer(engine, args.zmq, args.zmq_events, osc_udp, osc_tcp, auth=auth, osc_allow=osc_allow,
                          max_clients=args.max_clients)
    server.start()
    engine.warm_up()
    info = {"pid": os.getpid(), **server.addresses, "default_model": config.default_model,
            "output_root": str(engine.paths.output_root), "executor": config.executor}
    print(f"musicgen-bridge: serving {json.dumps(info)}", file=sys.stderr, flush=True)
    if args.ready_file:
        tmp = Path(args.ready_file + ".part")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, args.ready_file)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0
