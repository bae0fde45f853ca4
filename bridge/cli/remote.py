"""What the CLI does against a running engine: submit, follow, fetch; live sessions; status, cancel.

Progress and the job id go to stderr (one JSON object a line with ``--json``, so a ReaScript can
read them); the result goes to stdout. SIGTERM or Ctrl-C cancels the job on the engine before the
command exits, so killing the CLI never leaves work running.
"""

from __future__ import annotations

import argparse
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from ...engine.errors import EngineError
from ..client import DEFAULT_ADDRESS, PING_TIMEOUT_S, Client
from .progress import Progress


class _Stop(Exception):
    """Raised from a signal handler to leave a blocking wait."""


def attach_input_files(content: dict[str, Any]) -> tuple[list[bytes], list[str]]:
    """Turn input file paths into binary buffers, so a remote engine needs no shared disk; returns
    the buffers and the user's file names (errors about the engine's copies name these instead)."""
    from .args import check_input_files, input_files

    check_input_files(content)
    buffers: list[bytes] = []
    names: list[str] = []
    for ref in input_files(content):
        path = Path(ref.pop("path"))
        try:
            buffers.append(path.read_bytes())
        except OSError as exc:
            raise EngineError("bad_audio", f"cannot read {path}: {exc.strerror}") from None
        names.append(str(path))
        ref["buffer"] = len(buffers) - 1
        ref["format"] = path.suffix.lstrip(".") or "bin"
    return buffers, names


#: the engine's copy of a sent input file (bridge/handlers.py: mgb-scratch-*/in-*.SUFFIX), or that
#: copy as the engine's errors write it (``<buffer>/in-*.SUFFIX``, or ``<buffer>`` before it is written)
_SCRATCH_COPY = re.compile(r"[^\s'\"]*mgb-scratch-[^/\\\s]*[/\\]in-[^\s'\":,;()]+"
                           r"|<buffer>(?:[/\\]in-[^\s'\":,;()]+)?")


@contextmanager
def user_file_names(sent: list[str]) -> Iterator[None]:
    """Errors about the engine's copy of an input file name the user's file instead."""
    try:
        yield
    except EngineError as exc:
        if not sent or not _SCRATCH_COPY.search(exc.message):
            raise

        def swap(found: re.Match[str]) -> str:
            same = [name for name in sent if Path(name).suffix == Path(found.group(0)).suffix] or sent
            return " or ".join(same)

        details = {k: _SCRATCH_COPY.sub(swap, v) if isinstance(v, str) else v for k, v in exc.details.items()}
        raise EngineError(exc.code, _SCRATCH_COPY.sub(swap, exc.message), **details) from None


class _Interruptible:
    """SIGTERM/SIGINT raise _Stop while active, so a blocking wait can cancel its job and leave."""

    def __enter__(self) -> Self:
        self._old = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in self._old:
            signal.signal(sig, self._raise)
        return self

    @staticmethod
    def _raise(*_: Any) -> None:
        raise _Stop()

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def connect(args: argparse.Namespace, ping_timeout: float = PING_TIMEOUT_S) -> Client:
    from .keys import client_auth

    client = Client(getattr(args, "server", None) or DEFAULT_ADDRESS, timeout=10.0,
                    auth=client_auth(getattr(args, "client_key", None), getattr(args, "server_key", None)))
    client.request("ping", timeout=ping_timeout, retries=0)  # fail fast when no engine runs
    return client


def run_remote(args: argparse.Namespace, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    """``generate``/``continue`` against a running engine: submit, follow, fetch to --out."""
    out = Path(args.out) if getattr(args, "out", None) else None
    if out is not None:
        if out.exists():
            raise EngineError("file_exists", f"{out} exists; files are never overwritten")
        content.pop("output_name", None)  # the engine names the file in its own root; we fetch it
    buffers, sent = attach_input_files(content)
    with connect(args) as client, user_file_names(sent), Progress(getattr(args, "json", False)) as progress:
        job_id = client.submit(kind, content, buffers)
        progress.event("accepted", {"job_id": job_id})
        with _Interruptible():
            try:
                result = client.wait(job_id, lambda f: progress.event("progress", {"job_id": job_id, "fraction": f}),
                                     timeout=getattr(args, "timeout", 600.0))
            except _Stop:
                client.cancel(job_id)
                raise EngineError("cancelled", f"job {job_id} was cancelled") from None
            except EngineError as exc:
                if exc.code != "timeout":
                    raise
                raise EngineError("timeout", f"{exc.message}: `musicgen-bridge status {job_id} --wait 30"
                                  f"{_server_flag(args)}` follows it, `musicgen-bridge cancel {job_id}"
                                  f"{_server_flag(args)}` stops it", job_id=job_id) from None
        progress.event("finished", {"job_id": job_id})
        result["job_id"] = job_id
        if out is not None:
            takes = result.get("takes") or [result]
            for i, take in enumerate(takes, start=1):
                dest = out if len(takes) == 1 else out.with_name(f"{out.stem}-take{i}{out.suffix}")
                progress.event("fetching", {"job_id": job_id, "path": str(dest)})
                client.fetch(job_id, dest, take=i)
                client.fetch(job_id, dest.with_name(dest.name + ".json"), take=i, sidecar=True)
                take["engine_path"], take["path"] = take["path"], str(dest.resolve())
            result["path"] = takes[0]["path"]
    return result


def _server_flag(args: argparse.Namespace) -> str:
    server = getattr(args, "server", None)
    return f" --server {server}" if server else ""


def status(args: argparse.Namespace) -> dict[str, Any]:
    with connect(args) as client:
        return client.status(args.job_id, wait=args.wait)


def cancel(args: argparse.Namespace) -> dict[str, Any]:
    with connect(args) as client:
        return client.cancel(args.job_id)


def live_stop(args: argparse.Namespace) -> dict[str, Any]:
    with connect(args) as client:
        return client.request("live_stop", {"session_id": args.session_id}).content


def live_transport(args: argparse.Namespace) -> dict[str, Any]:
    with connect(args) as client:
        return client.request("transport", {"beat": args.beat, "bpm": args.bpm, "playing": bool(args.playing)}).content


def live_start(args: argparse.Namespace, content: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Start a session; with ``--follow`` yield its events (windows, underruns) until interrupted or
    ``--windows`` windows arrived, then stop it. ``--simulate`` plays a transport in real time from
    the start bar, as a DAW would report it."""
    buffers, sent = attach_input_files(content)
    with connect(args) as client, user_file_names(sent):
        client.subscribe()
        reply = client.request("live_start", content, buffers).content
        session = reply["session_id"]
        yield {"event": "started", **reply}
        if not args.follow:
            return
        qpb = _quarters_per_bar(content.get("time_signature", "4/4"))
        start_beat = (float(content.get("start_bar", 1)) - 1) * qpb
        # the simulated producer presses play once the first window is there (as one would in a DAW);
        # a transport running before any audio exists would only report underruns
        t0: float | None = None
        windows = 0
        try:
            with _Interruptible():
                while args.windows is None or windows < args.windows:
                    if args.simulate and t0 is not None:
                        beat = start_beat + (time.monotonic() - t0) * float(content["bpm"]) / 60
                        client.request("transport", {"beat": beat, "bpm": content["bpm"], "playing": True,
                                                     "session_id": session})
                    for msg in client.poll_events(0.1):
                        if msg.content.get("session_id") == session:
                            yield {"event": msg.msg_type, **msg.content}
                            windows += msg.msg_type == "window"
                            if msg.msg_type == "window" and t0 is None:
                                t0 = time.monotonic()
                            if msg.msg_type == "error":
                                return
        except _Stop:
            pass
        finally:
            yield {"event": "stopped", **client.request("live_stop", {"session_id": session}).content}


def _quarters_per_bar(ts: str) -> float:
    num, den = (int(x) for x in str(ts).split("/"))
    return num * 4 / den
