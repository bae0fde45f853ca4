"""The ``musicgen-bridge`` command line.

Errors go to stderr as one line ``musicgen-bridge: <code>: <message>`` with exit status 2 for a
bad request and 1 for anything else; results go to stdout (``--json`` for scripts).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...engine.errors import EngineError
from .args import (
    add_continue_args,
    add_request_args,
    add_request_file_arg,
    continue_content,
    input_files,
    request_content,
    request_file_content,
)
from .codec import add_codec_parser

EXIT_BAD_REQUEST = 2
EXIT_FAILED = 1
BAD_REQUEST_CODES = {"invalid_field", "missing_field", "too_large", "unknown_model", "bad_envelope", "bad_json",
                     "path_not_allowed", "file_exists", "bad_midi", "bad_audio", "bad_fx", "no_melody_support",
                     "no_style_support",
                     "unknown_job", "unknown_session", "unknown_msg_type", "unsupported_version",
                     "unsupported_decoder", "bad_tokens"}


def _print_result(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(result))
    else:
        for take in result.get("takes", [result]):
            print(f"{take['path']}  {take['frames']} frames @ {result['sample_rate']} Hz")
    if getattr(args, "preview", False):
        import soundfile as sf

        from ...engine.render import preview

        data, rate = sf.read(result["path"], dtype="float32", always_2d=True)
        print(preview(data.T, rate), file=sys.stderr)


def cmd_generate(args: argparse.Namespace) -> int:
    content = request_file_content(Path(args.request), args.out) if args.request else request_content(args)
    return _submit(args, "generate", content)


def cmd_continue(args: argparse.Namespace) -> int:
    content = request_file_content(Path(args.request), args.out) if args.request else continue_content(args)
    return _submit(args, "continue", content)


def _submit(args: argparse.Namespace, kind: str, content: dict[str, Any]) -> int:
    if args.local:
        return _run_local(args, kind, content)
    from .remote import run_remote

    _print_result(args, run_remote(args, kind, content))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from . import remote

    print(json.dumps(remote.status(args)))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from . import remote

    print(json.dumps(remote.cancel(args)))
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from . import remote

    if args.live_command == "stop":
        print(json.dumps(remote.live_stop(args)))
    elif args.live_command == "transport":
        print(json.dumps(remote.live_transport(args)))
    else:
        content = request_content(args)
        content.pop("output_name", None)
        content.pop("bars", None)
        for key in ("window_bars", "ahead_bars", "context_bars"):
            if getattr(args, key) is not None:
                content[key] = getattr(args, key)
        for event in remote.live_start(args, content):
            print(json.dumps(event), flush=True)
    return 0


def _run_local(args: argparse.Namespace, kind: str, content: dict[str, Any]) -> int:
    from ...engine.models import hf
    from ...engine.models.specs import DEFAULT_MODEL, get_spec

    # absent weights fail before torch and transformers are even imported (seconds count here)
    spec = get_spec(content.get("model") or DEFAULT_MODEL)
    if spec.hf_id is not None:  # built-in models have none
        hf.ensure_snapshot(spec.hf_id, hf.cache_dir(getattr(args, "cache_dir", None)))
    from ...engine.engine import Engine, EngineConfig

    out_dir = Path(args.out).expanduser().resolve().parent if args.out else Path.cwd()
    if args.out:
        content["output_dir"] = str(out_dir)
        if Path(args.out).exists():
            raise EngineError("file_exists", f"{args.out} exists; files are never overwritten")
    # in-process, the producer's own input files are readable wherever they are
    allowed: list[str | Path] = sorted({str(Path(ref["path"]).parent) for ref in input_files(content)})
    config = EngineConfig(default_model=spec.name,
                          output_root=out_dir, allowed_dirs=allowed, device=getattr(args, "device", "auto"),
                          cache_dir=getattr(args, "cache_dir", None))
    config.batching = False  # one job: nothing to batch with, and on a CPU the padded rows only cost
    engine = Engine(config)
    try:
        submitted = engine.submit(kind, content)
        job = engine.wait(submitted.id, timeout=args.timeout)
        if job is None or job.state != "done" or job.result is None:
            state = job.state if job is not None else "unknown"
            err = (job.error if job is not None else None) or {"code": "internal", "message": f"job ended as {state}"}
            raise EngineError(err["code"], err["message"])
        _print_result(args, job.result)
        return 0
    finally:
        engine.close()


def cmd_models(args: argparse.Namespace) -> int:
    from ...engine.models.registry import ModelRegistry

    rows = ModelRegistry(device="cpu", cache_dir=args.cache_dir).describe()
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'name':40} {'size':28} {'melody':7} {'stereo':7} cached")
    for r in rows:
        print(f"{r['name']:40} {r['params']:28} {'yes' if r['melody'] else '-':7} {'yes' if r['stereo'] else '-':7} "
              f"{'yes' if r['cached'] else 'no'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ...engine.engine import EngineConfig
    from ...engine.executors.options import RAY_FLAGS, serve_executor
    from ...engine.jobs.journal import default_path as journal_default
    from ...engine.models.registry import DEFAULT_MODEL
    from ..server import ServeSettings, serve_forever

    models = args.model or []
    config = EngineConfig(device=args.device, dtype=args.dtype, cache_dir=args.cache_dir,
                          default_model=models[0] if models else DEFAULT_MODEL, preload=list(models),
                          output_root=args.output_root, allowed_dirs=list(args.allow_dir),
                          journal=None if args.journal == "off" else (args.journal or journal_default()))
    if args.max_queue:
        config.max_queue = args.max_queue
    config.batching = not args.no_batching
    config.executor, config.executor_options = serve_executor(
        args.executor, {flag: getattr(args, flag) for flag in RAY_FLAGS})
    return serve_forever(ServeSettings(config=config, zmq=args.zmq, zmq_events=args.zmq_events, osc=args.osc,
                                       osc_tcp=args.osc_tcp, osc_allow=list(args.osc_allow), keys=args.keys,
                                       max_clients=args.max_clients, ready_file=args.ready_file))


def cmd_keys(args: argparse.Namespace) -> int:
    from .keys import run_keys

    if args.keys_command == "client" and not args.name:
        raise EngineError("missing_field", "keys client needs a NAME, e.g. `musicgen-bridge keys client laptop`")
    return run_keys(args.keys_command, args.dir, name=args.name, authorize=args.authorize)


def cmd_conformance(args: argparse.Namespace) -> int:
    from ...engine.conformance.runner import run_conformance

    return run_conformance(args.dir)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    return run_demo(args.out_dir, args.model, args.cache_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="musicgen-bridge", description="MusicGen inside your DAW.")
    parser.add_argument("--log-level", default=os.environ.get("MGB_LOG_LEVEL", "WARNING"))
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="text (and melody) to a bar-exact clip")
    add_request_args(g)
    g.add_argument("--device", default="auto")
    g.add_argument("--cache-dir", default=None)
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser("continue", help="new bars that follow an audio item, starting on its last bar line")
    add_request_args(c)
    add_continue_args(c)
    for p in (g, c):
        add_request_file_arg(p)
    c.add_argument("--device", default="auto")
    c.add_argument("--cache-dir", default=None)
    c.set_defaults(func=cmd_continue)

    lv = sub.add_parser("live", help="live mode: start a session, report transport, stop")
    lsub = lv.add_subparsers(dest="live_command", required=True)
    ls = lsub.add_parser("start", help="start a session (prints its id; --follow prints its windows)")
    add_request_args(ls)
    ls.add_argument("--window-bars", type=int, default=None, help="bars per window (default 4)")
    ls.add_argument("--ahead-bars", type=int, default=None, help="bars kept ready ahead of the playhead (default 8)")
    ls.add_argument("--context-bars", type=int, default=None, help="bars of context for each window (default 2)")
    ls.add_argument("--follow", action="store_true", help="print events as JSON lines; stop the session on exit")
    ls.add_argument("--simulate", action="store_true", help="with --follow: play a transport in real time")
    ls.add_argument("--windows", type=int, default=None, help="with --follow: stop after this many windows")
    lt = lsub.add_parser("transport", help="report the DAW transport to every live session")
    lt.add_argument("--beat", type=float, required=True, help="song position in quarter-note beats (0 = bar 1)")
    lt.add_argument("--bpm", type=float, required=True)
    lt.add_argument("--playing", type=int, default=1)
    lp = lsub.add_parser("stop", help="stop a live session")
    lp.add_argument("session_id")
    for p in (lt, lp):
        p.add_argument("--server", default=None)
    lv.set_defaults(func=cmd_live)

    st = sub.add_parser("status", help="a job's state, progress and result")
    st.add_argument("job_id")
    st.add_argument("--wait", type=float, default=0, help="wait up to this many seconds for the job to end")
    st.add_argument("--server", default=None)
    st.set_defaults(func=cmd_status)
    ca = sub.add_parser("cancel", help="cancel a job between decoding steps")
    ca.add_argument("job_id")
    ca.add_argument("--server", default=None)
    ca.set_defaults(func=cmd_cancel)

    m = sub.add_parser("models", help="list known models and what is cached")
    m.add_argument("--cache-dir", default=None)
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)

    s = sub.add_parser("serve", help="run the engine: ZeroMQ and OSC on loopback")
    s.add_argument("--model", action="append", default=None, help="model to preload (repeatable); first is default")
    s.add_argument("--zmq", default="tcp://127.0.0.1:5555", help="ROUTER address; events on port+1")
    s.add_argument("--zmq-events", default=None, help="PUB address (default: the ROUTER port + 1)")
    s.add_argument("--osc", default="127.0.0.1:9000", help="OSC UDP host:port ('off' to disable)")
    s.add_argument("--osc-tcp", default=None, help="OSC TCP (SLIP) host:port")
    s.add_argument("--device", default="auto")
    s.add_argument("--dtype", default=None)
    s.add_argument("--cache-dir", default=None)
    s.add_argument("--output-root", default=None)
    s.add_argument("--allow-dir", action="append", default=[])
    s.add_argument("--max-queue", type=int, default=None)
    s.add_argument("--no-batching", action="store_true", help="decode each job alone (default: concurrent jobs "
                   "and live windows on one model decode as one batch)")
    s.add_argument("--ready-file", default=None, help="write the bound addresses here once serving")
    s.add_argument("--keys", default=None, help="key folder (`keys init`): ZeroMQ with CURVE; needed beyond loopback")
    s.add_argument("--osc-allow", action="append", default=[], help="address or network allowed to send OSC "
                   "(repeatable); needed to serve OSC beyond loopback")
    s.add_argument("--max-clients", type=int, default=None, help="ZeroMQ clients connected at once")
    s.add_argument("--journal", default=None, help="job journal (SQLite) path, or 'off' (default: in the data folder)")
    s.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where generation runs: this process, or Ray Serve replicas (docs/scale-out.md)")
    s.add_argument("--backend", dest="executor", choices=("local", "ray"), help=argparse.SUPPRESS)  # 1.x alias
    s.add_argument("--ray-address", default=None, help="Ray cluster to join: auto | HOST:PORT | ray://HOST:10001 "
                   "(default: start Ray on this machine)")
    s.add_argument("--replicas", type=int, default=None, help="generation replicas, each keeps its models warm")
    s.add_argument("--gpus-per-replica", type=float, default=None, help="GPUs reserved per replica (0.5: two share one)")
    s.add_argument("--cpus-per-replica", type=float, default=None, help="CPUs reserved per replica")
    s.set_defaults(func=cmd_serve)

    k = sub.add_parser("keys", help="make CURVE keys for remote access (docs/security.md)")
    k.add_argument("keys_command", choices=("init", "client"), help="init: the engine's keys; client: a client's")
    k.add_argument("name", nargs="?", default=None, help="client name (keys client NAME)")
    k.add_argument("--dir", default=None, help="key folder (default: <user config dir>/keys)")
    k.add_argument("--authorize", action="store_true", help="client: also let it into this machine's engine")
    k.set_defaults(func=cmd_keys)

    cf = sub.add_parser("conformance", help="check our implementations against reference fixtures")
    cf.add_argument("suite", choices=("audiocraft",), help="which reference set")
    cf.add_argument("dir", help="fixture folder (one sub-folder per model family)")
    cf.set_defaults(func=cmd_conformance)

    add_codec_parser(sub)

    d = sub.add_parser("demo", help="start an engine, send real requests over the wire, keep the files")
    d.add_argument("--out-dir", default="demo-output")
    d.add_argument("--model", default=None)
    d.add_argument("--cache-dir", default=None)
    d.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    try:
        return args.func(args)
    except EngineError as exc:
        print(f"musicgen-bridge: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_BAD_REQUEST if exc.code in BAD_REQUEST_CODES else EXIT_FAILED
    except KeyboardInterrupt:
        print("musicgen-bridge: interrupted", file=sys.stderr)
        return 130


def _quiet_libraries() -> None:
    # read by transformers when (and only when) a command imports it; status/cancel stay light
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


if __name__ == "__main__":
    sys.exit(main())
