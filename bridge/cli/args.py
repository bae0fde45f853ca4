"""CLI arguments -> the protocol's request content: one mapping for every command that sends a request."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ...engine.errors import EngineError
from .magnet_args import magnet_content
from .outputs import output_target
from .style_args import style_content


def request_content(args: argparse.Namespace) -> dict[str, Any]:
    """CLI arguments -> the protocol's request content (the engine validates it). A command that
    lacks an option (``live start`` has no ``--out``) leaves its field out."""
    out, fmt = output_target(getattr(args, "out", None), args.format)
    args.out = None if out is None else str(out)  # every output name carries its format's extension
    content: dict[str, Any] = {"prompt": args.prompt, "bpm": args.bpm, "time_signature": args.time_signature,
                               "sample_rate": args.sample_rate, "channels": args.channels, "format": fmt}
    optional = {"model": args.model, "seed": args.seed, "top_k": args.top_k, "top_p": args.top_p,
                "temperature": args.temperature, "cfg": args.cfg, "generator": args.generator, "dtype": getattr(args, "dtype", None),
                "decoder": args.decoder,
                "output_dir": args.output_dir, "loudness_lufs": args.loudness, "true_peak_dbtp": args.ceiling,
                "tail": args.tail, "track": args.track}
    for key in ("bars", "seconds", "variations", "start_bar"):
        optional[key] = getattr(args, key, None)
    if args.fx is not None:
        fx_file = Path(args.fx)
        # a chain file travels as its JSON content, so a remote engine needs no access to it
        optional["fx"] = _read_json(fx_file, "effect chain", "bad_fx") if fx_file.suffix == ".json" or fx_file.exists() else args.fx
    content.update({k: v for k, v in optional.items() if v is not None})
    content.update(magnet_content(args))
    if args.no_tempo_hint:
        content["tempo_hint"] = False
    if hasattr(args, "midi"):
        melody = melody_content(args)
        if melody is not None:
            content["melody"] = melody
    style = style_content(args)
    if style is not None:
        content["style"] = style
    if args.out is not None:
        content["output_name"] = Path(args.out).name
    return content


def live_content(args: argparse.Namespace) -> dict[str, Any]:
    """``live start`` arguments -> ``live_start`` content."""
    content = request_content(args)
    for key in ("window_bars", "ahead_bars", "context_bars"):
        if getattr(args, key) is not None:
            content[key] = getattr(args, key)
    return content


def _read_json(path: Path, what: str, code: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise EngineError("not_found", f"the {what} file {path} does not exist", path=str(path)) from None
    except OSError as exc:
        raise EngineError(code, f"cannot read the {what} file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise EngineError(code, f"{path} is not valid JSON: {exc}") from None


def melody_content(args: argparse.Namespace) -> dict[str, Any] | None:
    if sum(bool(x) for x in (args.midi, args.melody_audio, args.melody)) > 1:
        raise EngineError("invalid_field", "give one of --midi, --melody-audio or --melody")
    melody: dict[str, Any] | None = None
    if args.melody:
        melody = _read_json(Path(args.melody), "melody", "invalid_field")
        if not isinstance(melody, dict):
            raise EngineError("invalid_field", f"{args.melody} must hold a JSON object (the melody field)")
    elif args.midi:
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


def check_input_files(content: dict[str, Any]) -> None:
    """Every input file the user named exists (``not_found`` names it as typed, before any work)."""
    for kind, ref in input_file_kinds(content):
        path = Path(ref["path"])
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise EngineError("not_found", f"the {kind} {path} {what}", path=str(path))


def input_file_kinds(content: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(kind, {"path": ...}) for each input file of a request: melody MIDI/audio, the continued item,
    a codec request's audio or tokens file."""
    found = []
    melody = content.get("melody") or {}
    for key in ("midi_file", "audio"):
        if isinstance(melody.get(key), dict) and "path" in melody[key]:
            found.append(("MIDI file" if key == "midi_file" else "melody audio file", melody[key]))
    # continuation item; codec_* input; style reference
    for key, kind in (("audio", "audio item"), ("tokens", "tokens file"), ("style", "style audio file")):
        if isinstance(content.get(key), dict) and "path" in content[key]:
            found.append((kind, content[key]))
    return found


def input_files(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The {"path": ...} objects of a request's input files (melody, continuation audio)."""
    return [ref for _, ref in input_file_kinds(content)]


def request_file_content(path: Path, out: str | None = None) -> dict[str, Any]:
    """``--request FILE.json``: the whole request content from one UTF-8 JSON object, so a DAW
    script passes no free text (prompts, project paths) on a command line it would have to quote.
    A relative ``audio.path`` or ``style.path`` is taken relative to the file; ``out`` (``--out``) names the output.

        musicgen-bridge generate --request take.request.json --json --out take.wav
    """
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EngineError("invalid_field", f"cannot read the request file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise EngineError("bad_json", f"{path} is not valid JSON: {exc}") from None
    if not isinstance(content, dict):
        raise EngineError("invalid_field", f"{path} must hold a JSON object (the request content)")
    for key in ("audio", "style"):
        ref = content.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("path"), str):
            ref["path"] = str((path.parent / ref["path"]).resolve())
    if out:
        content["output_name"] = Path(out).name
    return content


def continue_content(args: argparse.Namespace) -> dict[str, Any]:
    if not args.audio:
        raise EngineError("missing_field", "continue needs --audio FILE (the audio item to continue)", field="audio")
    content = request_content(args)
    audio: dict[str, Any] = {"path": str(Path(args.audio).resolve())}
    if args.audio_start is not None:
        audio["start_seconds"] = args.audio_start
    if args.audio_end is not None:
        audio["end_seconds"] = args.audio_end
    content["audio"] = audio
    content["item_start_bar"] = args.item_start_bar
    if args.context_bars is not None:
        content["context_bars"] = args.context_bars
    return content
