"""Live-mode relay between a ReaScript (files) and the engine (ZeroMQ).

Stock Reaper Lua has no sockets and ``reaper.ExecProcess`` cannot feed a process's stdin, so the
live ReaScript talks to this helper through three small files in the project's media folder:

* ``--transport``: the ReaScript rewrites it (atomically) about ten times a second with
  ``{"beat": <quarter notes from bar 1>, "bpm": <tempo>, "playing": true|false, "t": <clock>}``; the
  relay sends each change to the engine as a ``transport`` request. ``t`` is a heartbeat: when it has
  not changed for ``--heartbeat`` seconds the DAW side is gone and the session is stopped.
* ``--events``: the relay appends one JSON line per event, ``{"event": "started", "session_id"}``,
  ``{"event": "window", "index", "start_bar", "bars", "path", "frames", "sample_rate", "rtf"}`` (bars
  1-based; the window's file copied into ``--out-dir``), ``{"event": "underrun", "beat",
  "playhead_bar", "resume_bar"}`` and ``{"event": "error", "code", "message"}`` (the session has
  ended; the relay stops too).
* ``--stop``: when this file appears the relay sends ``live_stop``, places the windows that were
  finished by then, and exits.

    python mgb_live_relay.py --request live.json --transport t.json --events e.jsonl --stop stop \\
        --out-dir "/project/Media/musicgen-bridge"

Errors reach stderr as ``musicgen-bridge: <code>: <message>`` (exit status 1), as from the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from musicgen_bridge.bridge.client import DEFAULT_ADDRESS, Client
from musicgen_bridge.bridge.protocol import Message
from musicgen_bridge.engine.errors import EngineError

RESEND_S = 1.0  # repeat an unchanged transport this often so the engine's view never goes stale
DRAIN_S = 0.5  # after live_stop, events still in flight arrive within this quiet time


def free_dest(out_dir: Path, stem: str, suffix: str) -> Path:
    dest, n = out_dir / f"{stem}{suffix}", 2
    while dest.exists():
        dest, n = out_dir / f"{stem}-{n}{suffix}", n + 1
    return dest


class Relay:
    def __init__(self, client: Client, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.events_path = Path(args.events)
        self.out_dir = Path(args.out_dir)
        self.session_id = ""
        self.last_sent: tuple[str, float] = ("", 0.0)
        self.last_change = time.monotonic()
        self.heartbeat: Any = None

    def emit(self, event: dict[str, Any]) -> None:
        with self.events_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")

    def start(self, content: dict[str, Any]) -> None:
        self.client.subscribe()  # events must be routed before the session starts
        reply = self.client.request("live_start", content)
        self.session_id = str(reply.content["session_id"])
        self.emit({"event": "started", "session_id": self.session_id})

    def send_transport(self) -> None:
        try:
            state = json.loads(Path(self.args.transport).read_text(encoding="utf-8"))
            content = {"session_id": self.session_id, "beat": float(state["beat"]), "bpm": float(state["bpm"]),
                       "playing": bool(state["playing"])}
        except (OSError, ValueError, KeyError, TypeError):
            return  # not written yet, or caught between writes
        now = time.monotonic()
        if state.get("t") != self.heartbeat:
            self.heartbeat, self.last_change = state.get("t"), now
        key = json.dumps(content, sort_keys=True)
        if key == self.last_sent[0] and now - self.last_sent[1] < RESEND_S:
            return
        self.client.request("transport", content)
        self.last_sent = (key, now)

    def handle(self, msg: Message) -> bool:
        """Pass one engine event on; False when it ended the session (an error)."""
        c = msg.content
        if c.get("session_id", self.session_id) != self.session_id:
            return True
        if msg.msg_type == "window":
            src = str(c["path"])
            dest = self.client.fetch(None, free_dest(self.out_dir, Path(src).stem, Path(src).suffix), path=src)
            self.emit({"event": "window", "index": c.get("index"), "start_bar": c.get("start_bar"),
                       "bars": c.get("bars"), "path": str(dest), "frames": c.get("frames"),
                       "sample_rate": c.get("sample_rate"), "rtf": c.get("rtf")})
        elif msg.msg_type == "underrun":
            self.emit({"event": "underrun", "beat": c.get("beat"), "playhead_bar": c.get("playhead_bar"),
                       "resume_bar": c.get("resume_bar")})
        elif msg.msg_type == "error":
            self.emit({"event": "error", "code": c.get("code", "internal"), "message": c.get("message", "")})
            return False
        return True

    def run(self) -> None:
        stop = Path(self.args.stop)
        ended = False
        while not stop.exists() and not ended:
            if time.monotonic() - self.last_change > self.args.heartbeat:
                break  # the ReaScript stopped writing: Reaper closed or the script was killed
            self.send_transport()
            ended = not all(self.handle(msg) for msg in self.client.poll_events(self.args.interval))
        try:
            self.client.request("live_stop", {"session_id": self.session_id})
        except EngineError:
            if not ended:
                raise
            return  # the error that ended the session is already reported
        # windows finished before the session stopped are the producer's: place them too
        while events := self.client.poll_events(DRAIN_S):
            for msg in events:
                self.handle(msg)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mgb_live_relay", description=__doc__.split("\n")[0])
    p.add_argument("--server", default=DEFAULT_ADDRESS)
    p.add_argument("--request", required=True, help="JSON file with the live_start content")
    p.add_argument("--transport", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--stop", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--interval", type=float, default=0.05, help="seconds between transport checks")
    p.add_argument("--heartbeat", type=float, default=10.0, help="stop after this long without a transport change")
    args = p.parse_args(argv)
    try:
        content = json.loads(Path(args.request).read_text(encoding="utf-8"))
        with Client(args.server, timeout=10.0) as client:
            client.ping()
            relay = Relay(client, args)
            relay.start(content)
            relay.run()
    except EngineError as exc:
        print(f"musicgen-bridge: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
