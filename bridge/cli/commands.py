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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...engine.errors import EngineError
from .args import (
    check_input_files,
    continue_content,
    input_files,
    live_content,
    request_content,
    request_file_content,
)
from .codec import cmd_codec
from .exits import EXIT_CANCELLED, EXIT_INTERRUPTED, exit_code, report_error
from .listing import cmd_jobs, cmd_live_list, cmd_models
from .outputs import EXTENSIONS, output_target
from .parser import UsageError, build_parser, load_settings
from .progress import Progress


def _print_result(args: argparse.Namespace, result: dict[str, Any], kind: str = "generate") -> None:
    if args.json:
        print(json.dumps(result))
    else:
        for take in result.get("takes", [result]):
            print(result_line(result, take, kind))
    if getattr(args, "preview", False):
        import soundfile as sf

        from ...engine.render import preview

        data, rate = sf.read(result["path"], dtype="float32", always_2d=True)
        print(preview(data.T, rate), file=sys.stderr)


def result_line(result: dict[str, Any], take: dict[str, Any], kind: str = "generate") -> str:
    """One take as a line: path first, then its length three ways, seed, and where a continuation goes.

    >>> result_line({"sample_rate": 48000, "bars": 2, "seconds": 4.0, "start_bar": 5},
    ...             {"path": "/m/next.wav", "frames": 192000, "seed": 7}, "continue")
    '/m/next.wav  2 bars, 4.000 s, 192000 frames @ 48000 Hz  seed 7  place at bar 5'
    """
    bars = f"{result['bars']} bars, " if result.get("bars") is not None else ""
    line = f"{take['path']}  {bars}{float(result.get('seconds', 0)):.3f} s, {take['frames']} frames @ " \
           f"{result['sample_rate']} Hz"
    seed = take.get("seed", result.get("seed"))
    if seed is not None:
        line += f"  seed {seed}"
    if kind == "continue" and result.get("start_bar") is not None:
        line += f"  place at bar {result['start_bar']}"
    return line


def cmd_generate(args: argparse.Namespace) -> int:
    return _submit(args, "generate", _file_request(args) if args.request else request_content(args))


def cmd_continue(args: argparse.Namespace) -> int:
    return _submit(args, "continue", _file_request(args) if args.request else continue_content(args))


def _file_request(args: argparse.Namespace) -> dict[str, Any]:
    """``--request FILE``: the content from the file; ``--out``'s extension picks the format when the
    file names none, and must agree with the one it names (as with ``--format``)."""
    content = request_file_content(Path(args.request))
    if args.out is not None:
        fmt = content.get("format")
        known = fmt if isinstance(fmt, str) and fmt in EXTENSIONS else None  # anything else: the engine's validation names it
        out, implied = output_target(args.out, known)
        if fmt is None or known is not None:
            content["format"] = implied
        args.out = str(out)
        content["output_name"] = Path(args.out).name
    return content


def _submit(args: argparse.Namespace, kind: str, content: dict[str, Any]) -> int:
    if args.local:
        return _run_local(args, kind, content)
    from .remote import run_remote

    _print_result(args, run_remote(args, kind, content), kind)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """A job's state; the exit status says how it ended (0 done or still going, else its error's)."""
    from . import remote

    if args.job_id is None:
        return cmd_jobs(args)
    status = remote.status(args)
    if args.json:
        print(json.dumps(status))
    else:
        line = f"{status['job_id']}  {status['state']}  {status.get('progress', 0):.0%}"
        if status.get("error"):
            line += f"  {status['error']['code']}: {status['error']['message']}"
        print(line)
        if status.get("result"):
            for take in status["result"].get("takes") or [status["result"]]:
                print(f"  {take['path']}  {take['frames']} frames")
    return job_exit(status)


def job_exit(status: dict[str, Any]) -> int:
    """The exit status a job's status implies: failed, cancelled or interrupted jobs are not 0."""
    state = status.get("state")
    if state in ("cancelled", "interrupted"):
        return EXIT_CANCELLED
    if state == "error":
        return exit_code((status.get("error") or {}).get("code", "internal"))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from . import remote

    status = remote.cancel(args)
    if args.json:
        print(json.dumps(status))
    else:
        print(f"{status['job_id']}  {status['state']}  (cancelling: a running job stops at its next step)"
              if status["state"] in ("queued", "running") else f"{status['job_id']}  {status['state']}")
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from . import remote

    if args.live_command == "list":
        return cmd_live_list(args)
    if args.live_command == "stop":
        print(json.dumps(remote.live_stop(args)))
    elif args.live_command == "transport":
        print(json.dumps(remote.live_transport(args)))
    else:
        for event in remote.live_start(args, live_content(args)):
            print(json.dumps(event), flush=True)
    return 0


def cmd_models_pull(args: argparse.Namespace) -> int:
    from .pull import pull

    return pull(args.name, args.cache_dir, args.revision)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    return run_doctor(args)


def cmd_config(args: argparse.Namespace) -> int:
    from .config import KEYS

    settings = args.settings
    if args.config_command == "path":
        print(settings.path)
        return 0
    if args.json:
        print(json.dumps({"path": str(settings.path), "exists": settings.path.is_file(),
                          "settings": {k: {"value": settings.value(k), "source": settings.source(k)} for k in KEYS}}))
        return 0
    print(f"config file: {settings.path}" + ("" if settings.path.is_file() else " (none yet)"))
    width = max(map(len, KEYS))
    for key in KEYS:
        print(f"{key:{width}}  {settings.value(key)!s:30}  {settings.source(key)}")
    return 0


def _run_local(args: argparse.Namespace, kind: str, content: dict[str, Any]) -> int:
    from ...engine.models import hf
    from ...engine.models.specs import DEFAULT_MODEL, get_spec

    # absent weights fail before torch and transformers are even imported (seconds count here)
    spec = get_spec(content.get("model") or DEFAULT_MODEL)
    if spec.hf_id is not None:  # built-in models have none
        hf.ensure_snapshot(spec.hf_id, hf.cache_dir(getattr(args, "cache_dir", None)))
    from ...engine.engine import Engine, EngineConfig

    check_input_files(content)
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
        with Progress(args.json) as progress:
            submitted = engine.submit(kind, content, listener=progress.event)
            job = engine.wait(submitted.id, timeout=args.timeout)
        if job is not None and job.state in ("queued", "running"):
            raise EngineError("timeout", f"job {job.id} did not finish within {args.timeout:g} s; with --local it "
                              "runs in this process and stops with it (a running engine keeps jobs going)")
        if job is None or job.state != "done" or job.result is None:
            state = job.state if job is not None else "unknown"
            err = (job.error if job is not None else None) or {"code": "internal", "message": f"job ended as {state}"}
            raise EngineError(err["code"], err["message"])
        _print_result(args, job.result, kind)
        return 0
    finally:
        engine.close()


def cmd_serve(args: argparse.Namespace) -> int:
    from ...engine.engine import EngineConfig
    from ...engine.executors.options import RAY_FLAGS, serve_executor
    from ...engine.jobs.journal import default_path as journal_default
    from ...engine.models.registry import DEFAULT_MODEL
    from ..server import ServeSettings, serve_forever

    models = args.model or []
    default = models[0] if models else args.settings.value("model") or DEFAULT_MODEL
    if not models:
        warn_if_not_cached(default, args.cache_dir)
    config = EngineConfig(device=args.device, dtype=args.dtype, cache_dir=args.cache_dir,
                          default_model=default, preload=list(models),
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


def warn_if_not_cached(name: str, cache_dir: str | None) -> None:
    """``serve`` without ``--model``: say now, not at the first request, that the default model is missing."""
    from ...engine.models import hf
    from ...engine.models.specs import get_spec

    spec = get_spec(name)
    if spec.hf_id is None:
        return
    cache = hf.cache_dir(cache_dir)
    if not hf.is_cached(spec.hf_id, cache):
        print(f"musicgen-bridge: warning: the default model {name} is not in the cache at {cache}; requests that "
              f"name no model will fail with model_unavailable. Fetch it with `musicgen-bridge models pull {name}`"
              " (or start with --model tiny to try without weights)", file=sys.stderr, flush=True)


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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "generate": cmd_generate, "continue": cmd_continue, "live": cmd_live, "status": cmd_status, "jobs": cmd_jobs,
    "cancel": cmd_cancel, "models": cmd_models, "models_pull": cmd_models_pull, "serve": cmd_serve,
    "keys": cmd_keys, "conformance": cmd_conformance, "demo": cmd_demo, "doctor": cmd_doctor, "config": cmd_config,
    "codec": cmd_codec}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; returns its exit status (docs/cli.md)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        settings = load_settings()
        args = build_parser(settings).parse_args(argv)
    except EngineError as exc:  # a broken config file or environment variable
        return report_error(exc, as_json)
    except UsageError as exc:
        code = "missing_field" if "required" in exc.message else "invalid_field"
        return report_error(EngineError(code, f"{exc.message} (see `{exc.prog} --help`)"), as_json)
    args.settings = settings
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    try:
        return COMMANDS[args.func](args)
    except EngineError as exc:
        return report_error(exc, bool(getattr(args, "json", False)))
    except KeyboardInterrupt:
        print("musicgen-bridge: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _quiet_libraries() -> None:
    # read by transformers when (and only when) a command imports it; status/cancel stay light
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


if __name__ == "__main__":
    sys.exit(main())
