"""The ``musicgen-bridge`` argument parser: every option with its help and default, each command
with only the options that apply to it, and argparse errors as one line.

>>> parser = build_parser(load_settings(environ={}))
>>> parser.parse_args(["generate", "--bars", "2"]).sample_rate
48000
"""

from __future__ import annotations

import argparse
import os
from typing import Any, NoReturn

from ... import __version__
from ...engine import limits
from ..protocol import PROTOCOL_VERSION
from .config import Settings, load_settings
from .magnet_args import add_magnet_args
from .style_args import add_style_args

__all__ = ["UsageError", "build_parser", "load_settings"]


class UsageError(Exception):
    """A command line argparse refuses; main() prints it as one line with a ``--help`` hint."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog, self.message = prog, message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints a whole usage block; we say one line
        raise UsageError(self.prog, message)


class _Help(argparse.HelpFormatter):
    """Appends each option's default (the effective one: config file and environment included)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and action.default not in (None, False, [], "", argparse.SUPPRESS) \
                and "default" not in text:
            text += " (default: %(default)s)"
        return text


def _sub(sub: Any, name: str, help_text: str, func: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".",
                       formatter_class=_Help)
    p.set_defaults(func=func)
    return p


def _connection(p: argparse.ArgumentParser, s: Settings, keys: bool = True) -> None:
    p.add_argument("--server", default=s.value("server"), help="engine address (config `server`, "
                   "env MUSICGEN_BRIDGE_SERVER)")
    if keys:
        p.add_argument("--client-key", default=None, help="this client's .key_secret (engines started with --keys)")
        p.add_argument("--server-key", default=None, help="the engine's public server.key (with --client-key)")


def _sound(p: argparse.ArgumentParser, s: Settings) -> None:
    """What every request command shares: prompt, model, tempo, format, sampling, render."""
    p.add_argument("--prompt", default="", help="text description of the music")
    p.add_argument("--model", default=s.value("model"), help="model name (see `musicgen-bridge models`; "
                   "default: the engine's default model)")
    p.add_argument("--bpm", type=float, default=s.value("bpm"), help="session tempo in quarter notes per minute")
    p.add_argument("--time-signature", default="4/4", help="e.g. 4/4, 3/4, 6/8, 7/8")
    p.add_argument("--sample-rate", type=int, default=s.value("sample_rate"), help="session sample rate in Hz")
    p.add_argument("--channels", type=int, default=s.value("channels"), choices=(1, 2), help="1 (mono) or 2 (stereo)")
    p.add_argument("--format", default=s.value("format"), help="wav16|wav24|wav32f|flac|aiff (default: from "
                   "--out's extension, else wav24)")
    p.add_argument("--seed", type=int, default=None, help="random seed; the same seed and request give the same "
                   "audio (default: a fresh one, printed with the result)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens (default 250)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the smallest set of tokens "
                   "holding this probability, 0..1 (default 0: off, top-k decides)")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature; lower is more "
                   "predictable (default 1.0)")
    p.add_argument("--cfg", type=float, default=None, help="classifier-free guidance scale: how closely to "
                   "follow the prompt (default 3.0)")
    p.add_argument("--no-tempo-hint", action="store_true", help="do not append the tempo to the prompt")
    p.add_argument("--generator", default=None, help="the token loop: auto|reference|fast (default auto)")
    p.add_argument("--backend", dest="generator", default=None, help=argparse.SUPPRESS)  # 1.x alias of --generator
    p.add_argument("--dtype", default=None, help="decoding precision of the fast generator: fp32|bf16|fp16|int8 "
                   "(default: the engine's)")
    p.add_argument("--decoder", default=None, help="tokens to audio: encodec or mbd (Multi-Band Diffusion: "
                   "cleaner, far slower; not in live mode) (default encodec)")
    p.add_argument("--fx", default=None, help="effect chain: a preset name (master-lite, lofi, wide-verb) or a JSON file")
    p.add_argument("--loudness", type=float, default=None, help="integrated loudness target in LUFS (default: none)")
    p.add_argument("--ceiling", type=float, default=None, help="true-peak ceiling in dBTP (default -1)")
    p.add_argument("--tail", default=None, help="cut|keep: effect tails cut to the exact length or kept (default cut)")
    p.add_argument("--track", default=None, help="track name used in file names")
    p.add_argument("--output-dir", default=s.value("output_dir"), help="the engine's output folder for the "
                   "files (inside its allowed folders; default: its output root)")
    _connection(p, s)


def _job(p: argparse.ArgumentParser, s: Settings) -> None:
    """generate and continue: one job, its files fetched to --out."""
    p.add_argument("--variations", type=int, default=None, help="number of takes, decoded as one batch (default 1)")
    p.add_argument("--out", default=None, help="output file, never overwritten; its extension picks the format "
                   "(default: the engine names it in its output folder)")
    p.add_argument("--preview", action="store_true", help="play the result when an audio device exists")
    p.add_argument("--json", action="store_true", help="print the result (or the error) as one JSON object")
    p.add_argument("--request", default=None, help="a JSON file holding the whole request content, so a script "
                   "quotes no free text (the other request options are then ignored; --out still names the file)")
    p.add_argument("--timeout", type=float, default=s.value("timeout"), help="seconds to wait for the result; "
                   "the job goes on in the engine after that")
    p.add_argument("--local", action="store_true", help="run in this process instead of through a running engine")
    p.add_argument("--device", default=s.value("device"), help="with --local: auto|cpu|cuda|cuda:N|mps")
    p.add_argument("--cache-dir", default=s.value("cache_dir"), help="with --local: Hugging Face cache folder "
                   "(default: HF_HUB_CACHE or its usual place)")


def _melody(p: argparse.ArgumentParser) -> None:
    p.add_argument("--midi", default=None, help="melody from a MIDI file (MusicGen-Melody models)")
    p.add_argument("--midi-track", type=int, default=None, help="track index in --midi (default: all tracks)")
    p.add_argument("--melody-audio", default=None, help="melody from an audio file (MusicGen-Melody models)")
    p.add_argument("--melody-start", type=float, default=None, help="start of the melody range in seconds (default 0)")
    p.add_argument("--melody-end", type=float, default=None, help="end of the melody range in seconds "
                   "(default: the file's end)")
    p.add_argument("--melody-mode", default=None, help="highest|lowest|loudest note of chords (default highest)")
    p.add_argument("--melody", default=None, help="a JSON file holding the protocol's melody object (e.g. notes)")


def _requests(sub: Any, s: Settings) -> None:
    g = _sub(sub, "generate", "text (and melody) to a bar-exact clip", "generate")
    _sound(g, s)
    g.add_argument("--bars", type=int, default=None, help="length in bars (default 4)")
    g.add_argument("--seconds", type=float, default=None, help="length in seconds when --bars is not given")
    g.add_argument("--start-bar", type=float, default=1, help="bar where the clip lands (1 = session start)")
    add_magnet_args(g)  # not on continue: MAGNeT cannot continue audio
    _melody(g)
    add_style_args(g)
    _job(g, s)

    c = _sub(sub, "continue", "new bars that follow an audio item, starting on its last bar line", "continue")
    _sound(c, s)
    c.add_argument("--audio", default=None, help="the audio item to continue (required unless --request)")
    c.add_argument("--audio-start", type=float, default=None, help="start of the item in the file, seconds (default 0)")
    c.add_argument("--audio-end", type=float, default=None, help="end of the item in the file, seconds "
                   "(default: the file's end)")
    c.add_argument("--item-start-bar", type=float, default=1, help="bar where the item starts on the timeline")
    c.add_argument("--start-bar", dest="item_start_bar", type=float, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # its pre-1.0 spelling here, kept through 1.x
    c.add_argument("--context-bars", type=int, default=None, help="whole bars of the item used as context (default 2)")
    c.add_argument("--bars", type=int, default=None, help="new bars to make (default 4)")
    add_style_args(c)
    _job(c, s)


def _live(sub: Any, s: Settings) -> None:
    lv = sub.add_parser("live", help="live mode: start, list and stop sessions; report the transport",
                        formatter_class=_Help)
    lsub = lv.add_subparsers(dest="live_command", required=True, metavar="{start,list,transport,stop}")
    ls = _sub(lsub, "start", "start a session (prints its id; --follow prints its windows)", "live")
    _sound(ls, s)
    add_magnet_args(ls)
    add_style_args(ls)
    ls.add_argument("--start-bar", type=int, default=1, help="bar where the first window lands")
    ls.add_argument("--window-bars", type=int, default=None, help="bars per window (default 4)")
    ls.add_argument("--ahead-bars", type=int, default=None, help="bars kept ready ahead of the playhead (default 8)")
    ls.add_argument("--context-bars", type=int, default=None, help="bars of context for each window (default 2)")
    ls.add_argument("--follow", action="store_true", help="print events as JSON lines; stop the session on exit")
    ls.add_argument("--simulate", action="store_true", help="with --follow: play a transport in real time from "
                    "the first window on")
    ls.add_argument("--windows", type=int, default=None, help="with --follow: stop after this many windows "
                    "(default: run until Ctrl-C)")
    li = _sub(lsub, "list", "the engine's live sessions", "live")
    li.add_argument("--json", action="store_true", help="print the sessions as one JSON object")
    lt = _sub(lsub, "transport", "report the DAW transport to every live session", "live")
    lt.add_argument("--beat", type=float, required=True, help="song position in quarter-note beats (0 = bar 1)")
    lt.add_argument("--bpm", type=float, required=True, help="tempo in quarter notes per minute")
    lt.add_argument("--playing", type=int, default=1, help="1 while playing, 0 when stopped")
    lp = _sub(lsub, "stop", "stop a live session", "live")
    lp.add_argument("session_id", help="the id `live start` printed (or `live list` shows)")
    for p in (li, lt, lp):
        _connection(p, s)


def _jobs(sub: Any, s: Settings) -> None:
    st = _sub(sub, "status", "a job's state, progress and result; without an id, the recent jobs", "status")
    st.add_argument("job_id", nargs="?", default=None, help="the job (default: list recent jobs, as `jobs`)")
    st.add_argument("--wait", type=float, default=0, help="wait up to this many seconds (at most 30) for the job "
                    "to end")
    st.add_argument("--json", action="store_true", help="print the status as one JSON object")
    j = _sub(sub, "jobs", "recent jobs and their takes", "jobs")
    j.add_argument("--json", action="store_true", help="print the jobs as one JSON object")
    ca = _sub(sub, "cancel", "cancel a job between decoding steps", "cancel")
    ca.add_argument("job_id", help="the job to cancel")
    ca.add_argument("--json", action="store_true", help="print the job's status as one JSON object")
    for p in (st, j, ca):
        _connection(p, s)


def _models(sub: Any, s: Settings) -> None:
    m = _sub(sub, "models", "models: known, cached, loaded in the running engine (`models pull NAME` fetches one)",
             "models")
    m.add_argument("--cache-dir", default=s.value("cache_dir"), help="Hugging Face cache folder (default: "
                   "HF_HUB_CACHE or its usual place)")
    m.add_argument("--json", action="store_true", help="print the table as one JSON object")
    _connection(m, s)
    msub = m.add_subparsers(dest="models_command", required=False, metavar="{pull}")
    pull = _sub(msub, "pull", "download a model's weights into the Hugging Face cache (resumable)", "models_pull")
    pull.add_argument("name", help="model name, e.g. facebook/musicgen-small")
    pull.add_argument("--cache-dir", default=s.value("cache_dir"), help="Hugging Face cache folder (default: "
                      "HF_HUB_CACHE or its usual place)")
    pull.add_argument("--revision", default=None, help="a branch, tag or commit (default: the model's pinned one)")


def _serve(sub: Any, s: Settings) -> None:
    p = _sub(sub, "serve", "run the engine: ZeroMQ and OSC on loopback", "serve")
    p.add_argument("--model", action="append", default=None, help="model to preload (repeatable); the first is "
                   "the default (default: config `model`, else facebook/musicgen-small)")
    p.add_argument("--zmq", default="tcp://127.0.0.1:5555", help="ROUTER address; events on port+1")
    p.add_argument("--zmq-events", default=None, help="PUB address (default: the ROUTER port + 1)")
    p.add_argument("--osc", default="127.0.0.1:9000", help="OSC UDP host:port ('off' to disable)")
    p.add_argument("--osc-tcp", default=None, help="OSC TCP (SLIP) host:port (default: off)")
    p.add_argument("--device", default=s.value("device"), help="auto (CUDA, then Apple MPS, then CPU), cpu, "
                   "cuda[:N], mps")
    p.add_argument("--dtype", default=None, help="default decoding precision: auto (fp32 on CPU, bf16/fp16 on "
                   "CUDA, fp16 on MPS), fp32, bf16, fp16, int8 (CPU); requests may name another (default auto)")
    p.add_argument("--cache-dir", default=s.value("cache_dir"), help="Hugging Face cache folder (default: "
                   "HF_HUB_CACHE or its usual place)")
    p.add_argument("--output-root", default=s.value("output_root"), help="where clips are written (default: "
                   "<user data dir>/output)")
    p.add_argument("--allow-dir", action="append", default=[], help="a further folder requests may read from "
                   "and write to, e.g. a DAW project folder (repeatable)")
    p.add_argument("--max-queue", type=int, default=None, help=f"jobs queued at once before `busy` "
                   f"(default {limits.MAX_QUEUE})")
    p.add_argument("--no-batching", action="store_true", help="decode each job alone (default: concurrent jobs "
                   "and live windows on one model decode as one batch)")
    p.add_argument("--ready-file", default=None, help="write the bound addresses here once serving")
    p.add_argument("--keys", default=None, help="key folder (`keys init`): ZeroMQ with CURVE; needed beyond loopback")
    p.add_argument("--osc-allow", action="append", default=[], help="address or network allowed to send OSC "
                   "(repeatable); needed to serve OSC beyond loopback")
    p.add_argument("--max-clients", type=int, default=None, help="ZeroMQ clients connected at once (default: "
                   "no limit)")
    p.add_argument("--journal", default=None, help="job journal (SQLite) path, or 'off' (default: in the data folder)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where generation runs: this process, or Ray Serve replicas (docs/scale-out.md)")
    p.add_argument("--backend", dest="executor", choices=("local", "ray"), help=argparse.SUPPRESS)  # 1.x alias
    p.add_argument("--ray-address", default=None, help="Ray cluster to join: auto | HOST:PORT | ray://HOST:10001 "
                   "(default: start Ray on this machine)")
    p.add_argument("--replicas", type=int, default=None, help="generation replicas, each keeps its models warm "
                   "(default 1)")
    p.add_argument("--gpus-per-replica", type=float, default=None, help="GPUs reserved per replica (0.5: two share "
                   "one; default 0)")
    p.add_argument("--cpus-per-replica", type=float, default=None, help="CPUs reserved per replica (default 1)")


def _tools(sub: Any, s: Settings) -> None:
    k = _sub(sub, "keys", "make CURVE keys for remote access (docs/security.md)", "keys")
    k.add_argument("keys_command", choices=("init", "client"), help="init: the engine's keys; client: a client's")
    k.add_argument("name", nargs="?", default=None, help="client name (keys client NAME)")
    k.add_argument("--dir", default=None, help="key folder (default: <user config dir>/keys)")
    k.add_argument("--authorize", action="store_true", help="client: also let it into this machine's engine")

    cf = _sub(sub, "conformance", "check our implementations against reference fixtures", "conformance")
    cf.add_argument("suite", choices=("audiocraft",), help="which reference set")
    cf.add_argument("dir", help="fixture folder (one sub-folder per model family)")

    _codec(sub, s)

    d = _sub(sub, "demo", "start an engine, send real requests over the wire, keep the files", "demo")
    d.add_argument("--out-dir", default="demo-output", help="where the demo's files go")
    d.add_argument("--model", default=None, help="model to use (default: musicgen-small when cached, else tiny)")
    d.add_argument("--cache-dir", default=s.value("cache_dir"), help="Hugging Face cache folder")

    doc = _sub(sub, "doctor", "check the setup (engine, ports, models, GPU, DAW scripts) and say what to fix",
               "doctor")
    doc.add_argument("--cache-dir", default=s.value("cache_dir"), help="Hugging Face cache folder")
    doc.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    _connection(doc, s)

    cfg = _sub(sub, "config", "show the settings (config file, environment) or the config file's path", "config")
    cfg.add_argument("config_command", choices=("show", "path"), nargs="?", default="show",
                     help="show: every setting, its value and where it came from; path: the config file")
    cfg.add_argument("--json", action="store_true", help="print the settings as one JSON object")


def _codec(sub: Any, s: Settings) -> None:
    cd = sub.add_parser("codec", help="EnCodec on its own: encode audio to tokens, decode, bounce",
                        formatter_class=_Help)
    actions = cd.add_subparsers(dest="codec_command", required=True, metavar="{encode,decode,bounce}")
    for name, what in (("encode", "audio file to a tokens file (.mgbcodes)"),
                       ("decode", "tokens file to audio at the session rate"),
                       ("bounce", "audio to codes at a bandwidth and back to audio (the codec's sound)")):
        p = _sub(actions, name, what, "codec")
        p.add_argument("input", help="the tokens file" if name == "decode" else "the audio file")
        p.add_argument("--model", default=None, help="tiny-encodec|facebook/encodec_24khz|_32khz|_48khz "
                       + ("(default: the codec the file names)" if name == "decode" else "(default: the engine's)"))
        if name != "decode":
            p.add_argument("--bandwidth", type=float, required=True, help="kbps, one of the model's bandwidths")
            p.add_argument("--start", type=float, default=None, help="start of the range in the file, seconds "
                           "(default 0)")
            p.add_argument("--end", type=float, default=None, help="end of the range in the file, seconds "
                           "(default: the file's end)")
            p.add_argument("--bars", type=int, default=None, help="the audio is this many bars, for bar-exact "
                           "lengths (default: the range as it is)")
            p.add_argument("--bpm", type=float, default=s.value("bpm"), help="tempo for --bars, quarter notes per "
                           "minute")
            p.add_argument("--time-signature", default="4/4", help="time signature for --bars")
        if name != "encode":
            p.add_argument("--sample-rate", type=int, default=s.value("sample_rate"), help="session sample rate in Hz")
            p.add_argument("--channels", type=int, default=None, choices=(1, 2), help="1 (mono) or 2 (stereo) "
                           "(default: the codec's)")
            p.add_argument("--format", default=s.value("format"), help="wav16|wav24|wav32f|flac|aiff (default: "
                           "from --out's extension, else wav24)")
        p.add_argument("--out", default=None, help="output file, never overwritten (default: the engine names it "
                       "in its output folder)")
        p.add_argument("--output-dir", default=s.value("output_dir"), help="the engine's output folder for the "
                       "file (inside its allowed folders; default: its output root)")
        p.add_argument("--json", action="store_true", help="print the result (or the error) as one JSON object")
        p.add_argument("--local", action="store_true", help="run in this process instead of through an engine")
        p.add_argument("--device", default=s.value("device"), help="with --local: auto|cpu|cuda|cuda:N|mps")
        p.add_argument("--cache-dir", default=s.value("cache_dir"), help="with --local: Hugging Face cache folder "
                       "(default: HF_HUB_CACHE or its usual place)")
        p.add_argument("--timeout", type=float, default=s.value("timeout"), help="seconds to wait for the result")
        _connection(p, s)


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """The whole command line; defaults come from ``settings`` (config file and environment)."""
    s = settings or load_settings()
    parser = _Parser(prog="musicgen-bridge", description="MusicGen inside your DAW.", formatter_class=_Help)
    parser.add_argument("--version", action="version", help="print the version and exit",
                        version=f"musicgen-bridge {__version__} (protocol {PROTOCOL_VERSION})")
    parser.add_argument("--log-level", default=os.environ.get("MGB_LOG_LEVEL", "WARNING"),
                        help="DEBUG|INFO|WARNING|ERROR (env MGB_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _requests(sub, s)
    _live(sub, s)
    _jobs(sub, s)
    _models(sub, s)
    _serve(sub, s)
    _tools(sub, s)
    return parser
