"""CLI arguments -> the protocol's request content: one mapping for every command that sends a request."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ...engine.errors import EngineError
from .magnet_args import add_magnet_args, magnet_content


def add_request_args(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--generator", default=None, help="the token loop: auto|reference|fast")
    p.add_argument("--decoder", default=None, help="tokens to audio: encodec (default) or mbd "
                   "(Multi-Band Diffusion: cleaner, far slower; not in live mode)")
    add_magnet_args(p)
    p.add_argument("--backend", dest="generator", default=None, help=argparse.SUPPRESS)  # 1.x alias of --generator
    p.add_argument("--midi", default=None, help="melody from a MIDI file (MusicGen-Melody models)")
    p.add_argument("--midi-track", type=int, default=None, help="track index in --midi (default: all tracks)")
    p.add_argument("--melody-audio", default=None, help="melody from an audio file (MusicGen-Melody models)")
    p.add_argument("--melody-start", type=float, default=None, help="start of the melody range in seconds")
    p.add_argument("--melody-end", type=float, default=None, help="end of the melody range in seconds")
    p.add_argument("--melody-mode", default=None, help="highest|lowest|loudest note of chords")
    p.add_argument("--melody", default=None, help="a JSON file holding the protocol's melody object (e.g. notes)")
    add_style_args(p)
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
    p.add_argument("--client-key", default=None, help="this client's .key_secret (engines started with --keys)")
    p.add_argument("--server-key", default=None, help="the engine's public server.key (with --client-key)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the result")


def request_content(args: argparse.Namespace) -> dict[str, Any]:
    """CLI arguments -> the protocol's request content (the engine validates it)."""
    content: dict[str, Any] = {"prompt": args.prompt, "bpm": args.bpm, "time_signature": args.time_signature,
                               "start_bar": args.start_bar, "sample_rate": args.sample_rate,
                               "channels": args.channels, "format": args.format}
    optional = {"model": args.model, "bars": args.bars, "seconds": args.seconds, "seed": args.seed,
                "top_k": args.top_k, "top_p": args.top_p, "temperature": args.temperature, "cfg": args.cfg,
                "variations": args.variations, "generator": args.generator, "decoder": args.decoder, "output_dir": args.output_dir,
                "loudness_lufs": args.loudness, "true_peak_dbtp": args.ceiling, "tail": args.tail,
                "track": args.track}
    if args.fx is not None:
        fx_file = Path(args.fx)
        # a chain file travels as its JSON content, so a remote engine needs no access to it
        optional["fx"] = _read_json(fx_file, "effect chain", "bad_fx") if fx_file.suffix == ".json" or fx_file.exists() else args.fx
    content.update({k: v for k, v in optional.items() if v is not None})
    content.update(magnet_content(args))
    if args.no_tempo_hint:
        content["tempo_hint"] = False
    melody = melody_content(args)
    if melody is not None:
        content["melody"] = melody
    style = style_content(args)
    if style is not None:
        content["style"] = style
    if args.out is not None:
        out = Path(args.out)
        content["output_name"] = out.name
    return content


def _read_json(path: Path, what: str, code: str) -> Any:
    try:
        return json.loads(path.read_text())
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


def input_files(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The {"path": ...} objects of a request's input files (melody, continuation audio)."""
    found = []
    melody = content.get("melody") or {}
    for key in ("midi_file", "audio"):
        if isinstance(melody.get(key), dict) and "path" in melody[key]:
            found.append(melody[key])
    for key in ("audio", "tokens", "style"):  # continuation item; codec_* input; style reference
        if isinstance(content.get(key), dict) and "path" in content[key]:
            found.append(content[key])
    return found


#: --style-* flags -> keys of the request's style object (docs/protocol.md, generate)
STYLE_FLAGS = {"style_start": "excerpt_start_seconds", "style_start_bar": "excerpt_start_bars",
               "style_seconds": "excerpt_seconds", "style_bars": "excerpt_bars",
               "style_file_start": "start_seconds", "style_file_end": "end_seconds",
               "style_eval_q": "eval_q", "cfg_beta": "cfg_coef_beta"}


def add_style_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style", default=None, metavar="FILE",
                   help="more like this: reference audio whose style to follow (MusicGen-Style models)")
    p.add_argument("--style-start", type=float, default=None, metavar="S",
                   help="where the style excerpt starts, seconds into the file (default: the middle)")
    p.add_argument("--style-start-bar", type=float, default=None, metavar="B",
                   help="where the style excerpt starts, bars into the file at --bpm (0: its start)")
    p.add_argument("--style-seconds", type=float, default=None, help="style excerpt length in seconds (default 3)")
    p.add_argument("--style-bars", type=float, default=None, help="style excerpt length in bars at --bpm")
    p.add_argument("--style-file-start", type=float, default=None, metavar="S",
                   help="use only the file from here (seconds): an item's range")
    p.add_argument("--style-file-end", type=float, default=None, metavar="S", help="... up to here (seconds)")
    p.add_argument("--style-eval-q", type=int, default=None, metavar="N",
                   help="style codebooks 1..6 (fewer: looser style, more: closer copy; default 3)")
    p.add_argument("--cfg-beta", type=float, default=None,
                   help="double guidance's beta with a prompt and a style (default 5: text over style)")


def style_content(args: argparse.Namespace) -> dict[str, Any] | None:
    """The request's style object from --style and its options (None without --style)."""
    given = {key: getattr(args, flag, None) for flag, key in STYLE_FLAGS.items()}
    if not getattr(args, "style", None):
        if any(v is not None for v in given.values()):
            raise EngineError("missing_field", "the --style-* options need --style FILE", field="style")
        return None
    # relative to where the command runs; the file travels as a buffer to a remote engine
    style: dict[str, Any] = {"path": str(Path(args.style).resolve())}
    style.update({k: v for k, v in given.items() if v is not None})
    return style


def add_request_file_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--request", default=None, help="a JSON file holding the whole request content "
                   "(the other request options are then ignored)")


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


def add_continue_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audio", default=None, help="the audio item to continue (required unless --request)")
    p.add_argument("--audio-start", type=float, default=None, help="start of the item in the file, seconds")
    p.add_argument("--audio-end", type=float, default=None, help="end of the item in the file, seconds")
    p.add_argument("--context-bars", type=int, default=None, help="whole bars of the item used as context")
    p.add_argument("--item-start-bar", type=float, default=None,
                   help="bar where the item starts on the timeline (default 1; --start-bar means the same here)")


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
    content["item_start_bar"] = args.item_start_bar if args.item_start_bar is not None else content.pop("start_bar")
    if args.context_bars is not None:
        content["context_bars"] = args.context_bars
    return content
