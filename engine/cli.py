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
from pathlib import Path
from typing import Any, Sequence

from .errors import EngineError

EXIT_BAD_REQUEST = 2
EXIT_FAILED = 1
BAD_REQUEST_CODES = {"invalid_field", "missing_field", "too_large", "unknown_model", "bad_envelope", "bad_json",
                     "path_not_allowed", "file_exists", "bad_midi", "bad_audio", "bad_fx", "no_melody_support"}


def _add_request_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt", default="", help="text description of the music")
    p.add_argument("--model", default=None, help="model name (see `musicgen-bridge models`)")
    p.add_argument("--bars", type=int, default=None, help="length in bars (default 4)")
    p.add_argument("--seconds", type=float, default=None, help="length in seconds when --bars is not given")
    p.add_argument("--bpm", type=float, default=120.0, help="session tempo in quarter notes per minute")
    p.add_argument("--time-signature", default="4/4", help="e.g. 4/4, 3/4, 6/8, 7/8")
    p.add_argument("--start-bar", type=float, default=1, help="bar where the clip lands (1 = session start)")
    p.add_argument("--sample-rate", type=int, default=48000, help="session sample rate in Hz")
    p.add_argument("--channels", type=int, default=2, choices=(1, 2))
    p.add_argument("--format", default="wav24", help="wav16|wav24|wav32f|flac|aiff")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--cfg", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--variations", type=int, default=None, help="number of takes, decoded as one batch")
    p.add_argument("--no-tempo-hint", action="store_true", help="do not append the tempo to the prompt")
    p.add_argument("--backend", default=None, help="auto|reference|fast")
    p.add_argument("--midi", default=None, help="melody from a MIDI file (MusicGen-Melody models)")
    p.add_argument("--midi-track", type=int, default=None, help="track index in --midi (default: all tracks)")
    p.add_argument("--melody-audio", default=None, help="melody from an audio file (MusicGen-Melody models)")
    p.add_argument("--melody-start", type=float, default=None, help="start of the melody range in seconds")
    p.add_argument("--melody-end", type=float, default=None, help="end of the melody range in seconds")
    p.add_argument("--melody-mode", default=None, help="highest|lowest|loudest note of chords")
    p.add_argument("--fx", default=None, help="effect chain: a preset name (master-lite, lofi, wide-verb) or a JSON file")
    p.add_argument("--loudness", type=float, default=None, help="integrated loudness target in LUFS")
    p.add_argument("--ceiling", type=float, default=None, help="true-peak ceiling in dBTP (default -1)")
    p.add_argument("--tail", default=None, help="cut|keep: effect tails cut to the exact length or kept")
    p.add_argument("--track", default=None, help="track name used in file names")
    p.add_argument("--preview", action="store_true", help="play the result when an audio device exists")
    p.add_argument("--out", default=None, help="output file (never overwritten)")
    p.add_argument("--output-dir", default=None, help="output folder (inside the engine's allowed folders)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--local", action="store_true", help="run in this process instead of through a running engine")
    p.add_argument("--server", default=None, help="engine address (default tcp://127.0.0.1:5555)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the result")


def request_content(args: argparse.Namespace) -> dict[str, Any]:
    """CLI arguments -> the protocol's request content (the engine validates it)."""
    content: dict[str, Any] = {"prompt": args.prompt, "bpm": args.bpm, "time_signature": args.time_signature,
                               "start_bar": args.start_bar, "sample_rate": args.sample_rate,
                               "channels": args.channels, "format": args.format}
    optional = {"model": args.model, "bars": args.bars, "seconds": args.seconds, "seed": args.seed,
                "top_k": args.top_k, "top_p": args.top_p, "temperature": args.temperature, "cfg": args.cfg,
                "variations": args.variations, "backend": args.backend, "output_dir": args.output_dir,
                "loudness_lufs": args.loudness, "true_peak_dbtp": args.ceiling, "tail": args.tail,
                "track": args.track}
    if args.fx is not None:
        fx_file = Path(args.fx)
        # a chain file travels as its JSON content, so a remote engine needs no access to it
        optional["fx"] = _read_chain_file(fx_file) if fx_file.suffix == ".json" or fx_file.exists() else args.fx
    content.update({k: v for k, v in optional.items() if v is not None})
    if args.no_tempo_hint:
        content["tempo_hint"] = False
    melody = melody_content(args)
    if melody is not None:
        content["melody"] = melody
    if args.out is not None:
        out = Path(args.out)
        content["output_name"] = out.name
    return content


def _read_chain_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise EngineError("bad_fx", f"cannot read the effect chain file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise EngineError("bad_fx", f"{path} is not valid JSON: {exc}") from None


def melody_content(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.midi and args.melody_audio:
        raise EngineError("invalid_field", "give --midi or --melody-audio, not both")
    melody: dict[str, Any] | None = None
    if args.midi:
        melody = {"midi_file": {"path": str(Path(args.midi).resolve())}}
        if args.midi_track is not None:
            melody["midi_file"]["track"] = args.midi_track
    elif args.melody_audio:
        audio: dict[str, Any] = {"path": str(Path(args.melody_audio).resolve())}
        if args.melody_start is not None:
            audio["start_seconds"] = args.melody_start
        if args.melody_end is not None:
            audio["end_seconds"] = args.melody_end
        melody = {"audio": audio}
    if melody is not None and args.melody_mode:
        melody["mode"] = args.melody_mode
    return melody


def input_files(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The {"path": ...} objects of a request's input files (melody, continuation audio)."""
    found = []
    melody = content.get("melody") or {}
    for key in ("midi_file", "audio"):
        if isinstance(melody.get(key), dict) and "path" in melody[key]:
            found.append(melody[key])
    if isinstance(content.get("audio"), dict) and "path" in content["audio"]:
        found.append(content["audio"])
    return found


def _print_result(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(result))
    else:
        for take in result.get("takes", [result]):
            print(f"{take['path']}  {take['frames']} frames @ {result['sample_rate']} Hz")
    if getattr(args, "preview", False):
        from .render import preview
        import soundfile as sf

        data, rate = sf.read(result["path"], dtype="float32", always_2d=True)
        print(preview(data.T, rate), file=sys.stderr)


def cmd_generate(args: argparse.Namespace) -> int:
    content = request_content(args)
    if args.local:
        return _run_local(args, "generate", content)
    from bridge.client import run_remote

    result = run_remote(args, "generate", content)
    _print_result(args, result)
    return 0


def _run_local(args: argparse.Namespace, kind: str, content: dict[str, Any]) -> int:
    from .models import hf
    from .models.specs import DEFAULT_MODEL, get_spec

    # absent weights fail before torch and transformers are even imported (seconds count here)
    spec = get_spec(content.get("model") or DEFAULT_MODEL)
    if not spec.builtin:
        hf.ensure_snapshot(spec.hf_id, hf.cache_dir(getattr(args, "cache_dir", None)))
    from .engine import Engine, EngineConfig

    out_dir = Path(args.out).expanduser().resolve().parent if args.out else Path.cwd()
    if args.out:
        content["output_dir"] = str(out_dir)
        if Path(args.out).exists():
            raise EngineError("file_exists", f"{args.out} exists; files are never overwritten")
    # in-process, the producer's own input files are readable wherever they are
    allowed = sorted({str(Path(ref["path"]).parent) for ref in input_files(content)})
    config = EngineConfig(default_model=spec.name,
                          output_root=out_dir, allowed_dirs=allowed, device=getattr(args, "device", "auto"),
                          cache_dir=getattr(args, "cache_dir", None))
    engine = Engine(config)
    try:
        job = engine.submit(kind, content)
        job = engine.wait(job.id, timeout=args.timeout)
        if job.state != "done":
            err = job.error or {"code": "internal", "message": f"job ended as {job.state}"}
            raise EngineError(err["code"], err["message"])
        _print_result(args, job.result)
        return 0
    finally:
        engine.close()


def cmd_models(args: argparse.Namespace) -> int:
    from .models.registry import ModelRegistry

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
    from bridge.server import serve_forever

    return serve_forever(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from bridge.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="musicgen-bridge", description="MusicGen inside your DAW.")
    parser.add_argument("--log-level", default=os.environ.get("MGB_LOG_LEVEL", "WARNING"))
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="text (and melody) to a bar-exact clip")
    _add_request_args(g)
    g.add_argument("--device", default="auto")
    g.add_argument("--cache-dir", default=None)
    g.set_defaults(func=cmd_generate)

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
    s.add_argument("--ready-file", default=None, help="write the bound addresses here once serving")
    s.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where generation runs: this process, or Ray Serve replicas (docs/scale-out.md)")
    s.add_argument("--ray-address", default=None, help="Ray cluster to join: auto | HOST:PORT | ray://HOST:10001 "
                   "(default: start Ray on this machine)")
    s.add_argument("--replicas", type=int, default=None, help="generation replicas, each keeps its models warm")
    s.add_argument("--gpus-per-replica", type=float, default=None, help="GPUs reserved per replica (0.5: two share one)")
    s.add_argument("--cpus-per-replica", type=float, default=None, help="CPUs reserved per replica")
    s.set_defaults(func=cmd_serve)

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
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    except ImportError:
        pass


if __name__ == "__main__":
    sys.exit(main())
