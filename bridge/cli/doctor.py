"""``musicgen-bridge doctor``: check the setup and say what to fix. Each check prints one line,
``ok``, ``warn`` (works, but worth knowing) or ``FAIL`` (something needed is wrong) with the fix;
the exit status is 1 when any check failed.

>>> Check("engine", "ok", "reachable").line()
'ok    engine    reachable'
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ... import __version__
from ...engine.errors import EngineError

#: ports ``serve`` listens on by default: ZeroMQ requests and events (TCP), OSC (UDP)
DEFAULT_PORTS = ((5555, socket.SOCK_STREAM, "ZeroMQ requests"), (5556, socket.SOCK_STREAM, "ZeroMQ events"),
                 (9000, socket.SOCK_DGRAM, "OSC"))
_LUA_VERSION = re.compile(r'^M\.VERSION\s*=\s*"([^"]+)"', re.MULTILINE)


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status.upper() if self.status == 'fail' else self.status:5} {self.name:9} {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.fix else "")


def check_engine(server: str, args: argparse.Namespace) -> tuple[Check, dict[str, Any] | None]:
    from .remote import connect

    try:
        with connect(args) as client:
            info = client.ping()
    except EngineError as exc:
        return Check("engine", "warn", f"no engine answers at {server} ({exc.code})",
                     "start one: `musicgen-bridge serve` (the DAW scripts and client commands need it)"), None
    detail = (f"reachable at {server}: engine {info.get('engine_version')}, protocol {info.get('protocol_version')}, "
              f"device {info.get('device')}, loaded: {', '.join(info.get('loaded') or []) or 'none'}")
    if info.get("engine_version") != __version__:
        return Check("engine", "fail", detail + f"; this CLI is {__version__}",
                     "run the engine and the CLI from the same install (restart `serve` after updating)"), info
    return Check("engine", "ok", detail), info


def check_ports() -> list[Check]:
    """Without an engine: can ``serve`` listen on its default ports?"""
    out = []
    for port, kind, what in DEFAULT_PORTS:
        with socket.socket(socket.AF_INET, kind) as probe:
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                out.append(Check("ports", "fail", f"port {port} ({what}) is taken by another program",
                                 "stop that program, or start the engine on other ports (`serve --zmq "
                                 "tcp://127.0.0.1:PORT --osc 127.0.0.1:PORT`) and point clients there"))
                continue
        out.append(Check("ports", "ok", f"port {port} ({what}) is free for `serve`"))
    return out


def check_models(model: str, cache_dir: str | None, loaded: list[str]) -> Check:
    from ...engine.models import hf
    from ...engine.models.specs import get_spec

    spec = get_spec(model)
    if spec.hf_id is None or model in loaded:
        return Check("models", "ok", f"default model {model} is {'loaded' if model in loaded else 'built in'}")
    cache = hf.cache_dir(cache_dir)
    if hf.is_cached(spec.hf_id, cache):
        return Check("models", "ok", f"default model {model} is cached in {cache}")
    return Check("models", "fail", f"default model {model} is not in the cache at {cache}",
                 f"`musicgen-bridge models pull {model}` (or set `model = \"tiny\"` in the config file to try "
                 "without weights)")


def check_accelerator() -> Check:
    try:
        import torch
    except ImportError:
        return Check("device", "fail", "torch is not installed", "reinstall musicgen-bridge (`pip install -e .`)")
    if torch.cuda.is_available():
        return Check("device", "ok", f"CUDA GPU: {torch.cuda.get_device_name(0)}")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Check("device", "ok", "Apple GPU (MPS)")
    return Check("device", "warn", "no GPU (CUDA or MPS): generation runs on the CPU, several times slower "
                 "than real time for the real models", "a CUDA build of torch on an NVIDIA machine, or a Mac with "
                 "Apple silicon, makes it real-time")


def reaper_scripts_dirs() -> list[Path]:
    """Where Reaper keeps scripts: $MGB_REAPER_RESOURCE/Scripts or the platform's resource folder."""
    if os.environ.get("MGB_REAPER_RESOURCE"):
        return [Path(os.environ["MGB_REAPER_RESOURCE"]) / "Scripts"]
    home = Path.home()
    return [home / ".config" / "REAPER" / "Scripts", home / "Library" / "Application Support" / "REAPER" / "Scripts",
            Path(os.environ.get("APPDATA", home)) / "REAPER" / "Scripts"]


def check_daw_scripts() -> list[Check]:
    found = [p for d in reaper_scripts_dirs() if d.is_dir() for p in d.rglob("mgb/init.lua")]
    if not found:
        return [Check("reaper", "warn", "no musicgen-bridge ReaScripts found in Reaper's Scripts folder",
                      "for Reaper, copy daw_scripts/reaper/ there (docs/daw-setup.md, 3.1)")]
    out = []
    for init in found:
        m = _LUA_VERSION.search(init.read_text(errors="replace"))
        version = m.group(1) if m else "unknown (older than 0.1.0)"
        if version == __version__:
            out.append(Check("reaper", "ok", f"ReaScripts {version} in {init.parent.parent}"))
        else:
            out.append(Check("reaper", "fail", f"ReaScripts {version} in {init.parent.parent}, but musicgen-bridge is "
                             f"{__version__}", "copy this release's daw_scripts/reaper/ over them"))
    return out


def check_tools() -> list[Check]:
    out = []
    lua = shutil.which("lua5.4") or shutil.which("lua")
    out.append(Check("lua", "ok", f"found {lua}") if lua else
               Check("lua", "warn", "no lua interpreter (only the ReaScript tests need one)", "apt install lua5.4"))
    ardour = next((shutil.which(n) for n in ("ardour8-lua", "ardour7-lua", "ardour-lua") if shutil.which(n)), None)
    out.append(Check("ardour", "ok", f"found {ardour}") if ardour else
               Check("ardour", "warn", "no ardour-lua (only the Ardour session tests need it)",
                     "apt install ardour (it ships ardour*-lua)"))
    return out


def run_doctor(args: argparse.Namespace) -> int:
    settings = args.settings
    checks = [Check("version", "ok", f"musicgen-bridge {__version__}, Python {sys.version.split()[0]}"),
              Check("config", "ok", f"{settings.path}" + ("" if settings.path.is_file() else " (none; built-in "
                                                                                               "defaults)"))]
    engine, info = check_engine(args.server, args)
    checks.append(engine)
    if info is None:
        checks += check_ports()
    from ...engine.models.specs import DEFAULT_MODEL

    model = (info or {}).get("default_model") or settings.value("model") or DEFAULT_MODEL
    checks.append(check_models(model, args.cache_dir, (info or {}).get("loaded") or []))
    checks.append(check_accelerator())
    checks += check_daw_scripts()
    checks += check_tools()
    failed = [c for c in checks if c.status == "fail"]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}))
    else:
        for check in checks:
            print(check.line())
        print(f"{len(failed)} problem(s) to fix" if failed else "all needed checks passed")
    return 1 if failed else 0
