"""``musicgen-bridge codec encode|decode|bounce``: EnCodec on its own, in this process or on an engine.

    musicgen-bridge codec encode kick.wav --model facebook/encodec_24khz --bandwidth 6 --out kick.mgbcodes
    musicgen-bridge codec decode kick.mgbcodes --sample-rate 48000 --out kick-back.wav
    musicgen-bridge codec bounce loop.wav --bandwidth 1.5 --bars 4 --bpm 120 --out loop-1k5.wav

Without ``--local`` the request goes to a running engine (input files travel as buffers).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ...engine.errors import EngineError
from .outputs import output_target


def codec_content(args: argparse.Namespace) -> dict[str, Any]:
    """CLI arguments -> the protocol's codec_* content."""
    source = str(Path(args.input).expanduser().resolve())
    content: dict[str, Any] = {}
    if args.codec_command == "decode":
        content["tokens"] = {"path": source}
    else:
        audio: dict[str, Any] = {"path": source}
        if args.start is not None:
            audio["start_seconds"] = args.start
        if args.end is not None:
            audio["end_seconds"] = args.end
        content.update({"audio": audio, "bandwidth": args.bandwidth})
        if args.bars is not None:
            content.update({"bars": args.bars, "bpm": args.bpm, "time_signature": args.time_signature})
    if args.codec_command != "encode":  # audio out: --out's extension picks the format, as for generate
        out, args.format = output_target(args.out, args.format)
        args.out = None if out is None else str(out)
    for key in ("model", "sample_rate", "channels", "format", "output_dir"):
        if getattr(args, key, None) is not None:
            content[key] = getattr(args, key)
    if args.out is not None:
        content["output_name"] = Path(args.out).name
    return content


def cmd_codec(args: argparse.Namespace) -> int:
    kind = f"codec_{args.codec_command}"
    content = codec_content(args)
    result = _run_local(args, kind, content) if args.local else _run_remote(args, kind, content)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['path']}  {result.get('frames')} frames @ {result.get('sample_rate')} Hz"
              f"  ({result['model']}, {result.get('bandwidth', '')} kbps)")
    return 0


def _run_local(args: argparse.Namespace, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    from ...engine.engine import Engine, EngineConfig

    out_dir = Path(args.out).expanduser().resolve().parent if args.out else Path.cwd()
    if args.out:
        content["output_dir"] = str(out_dir)
        if Path(args.out).exists():
            raise EngineError("file_exists", f"{args.out} exists; files are never overwritten")
    engine = Engine(EngineConfig(default_model="tiny", output_root=out_dir, device=args.device,
                                 allowed_dirs=[str(Path(args.input).expanduser().resolve().parent)],
                                 cache_dir=args.cache_dir, journal=None))
    try:
        job = engine.wait(engine.submit(kind, content).id, timeout=args.timeout)
        if job is None or job.state != "done" or job.result is None:
            err = (job.error if job is not None else None) or {"code": "internal", "message": "the job did not end"}
            raise EngineError(err["code"], err["message"])
        return job.result
    finally:
        engine.close()


def _run_remote(args: argparse.Namespace, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    from .remote import run_remote

    result: dict[str, Any] = run_remote(args, kind, content)
    return result
