"""MusicGen-Style's CLI flags (``--style FILE`` and its ``--style-*`` options) -> the request's
``style`` object (docs/protocol.md, generate).

>>> import argparse
>>> p = argparse.ArgumentParser()
>>> add_style_args(p)
>>> style_content(p.parse_args(["--style", "/tmp/loop.wav", "--style-bars", "2"]))
{'path': '/tmp/loop.wav', 'excerpt_bars': 2.0}
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ...engine.errors import EngineError

#: --style-* flag destination -> key of the request's style object
STYLE_FLAGS = {"style_start": "excerpt_start_seconds", "style_start_bar": "excerpt_start_bars",
               "style_seconds": "excerpt_seconds", "style_bars": "excerpt_bars",
               "style_file_start": "start_seconds", "style_file_end": "end_seconds",
               "style_eval_q": "eval_q", "cfg_beta": "cfg_coef_beta"}


def add_style_args(p: argparse.ArgumentParser) -> None:
    """The style options (generate, continue, live start); the engine validates the values."""
    g = p.add_argument_group("MusicGen-Style models (facebook/musicgen-style, tiny-style)")
    g.add_argument("--style", default=None, metavar="FILE",
                   help="more like this: reference audio whose style to follow (default: none)")
    g.add_argument("--style-start", type=float, default=None, metavar="S",
                   help="where the style excerpt starts, seconds into the file's range (default: the middle)")
    g.add_argument("--style-start-bar", type=float, default=None, metavar="B",
                   help="where the style excerpt starts, bars into the range at --bpm (0: its start; default: "
                   "the middle)")
    g.add_argument("--style-seconds", type=float, default=None, help="style excerpt length in seconds (default 3)")
    g.add_argument("--style-bars", type=float, default=None, help="style excerpt length in bars at --bpm "
                   "(default: --style-seconds)")
    g.add_argument("--style-file-start", type=float, default=None, metavar="S",
                   help="use only the file from here, seconds: an item's range (default 0)")
    g.add_argument("--style-file-end", type=float, default=None, metavar="S",
                   help="... up to here, seconds (default: the file's end)")
    g.add_argument("--style-eval-q", type=int, default=None, metavar="N",
                   help="style codebooks 1..6 (fewer: looser style, more: closer copy; default 3)")
    g.add_argument("--cfg-beta", type=float, default=None,
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
