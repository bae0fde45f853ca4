"""MAGNeT's CLI flags -> the request fields of docs/protocol.md (``decoding_steps``, ``span_arrangement`` ...).

>>> import argparse
>>> p = argparse.ArgumentParser()
>>> add_magnet_args(p)
>>> magnet_content(p.parse_args(["--decoding-steps", "8,4,4,4", "--span-arrangement", "stride1"]))
{'decoding_steps': '8,4,4,4', 'span_arrangement': 'stride1'}
"""

from __future__ import annotations

import argparse
from typing import Any

#: flag destination -> request field
_FIELDS = {"decoding_steps": "decoding_steps", "span_arrangement": "span_arrangement",
           "span_scoring": "span_scoring", "max_cfg": "max_cfg", "min_cfg": "min_cfg"}


def add_magnet_args(p: argparse.ArgumentParser) -> None:
    """The MAGNeT settings (other models ignore them); the engine validates the values."""
    g = p.add_argument_group("MAGNeT models (facebook/magnet-*, tiny-magnet)")
    g.add_argument("--decoding-steps", default=None, help="decoding passes per codebook (default 20,10,10,10)")
    g.add_argument("--span-arrangement", default=None, help="nonoverlap|stride1 (default nonoverlap)")
    g.add_argument("--span-scoring", default=None, help="max|prod (default max)")
    g.add_argument("--max-cfg", type=float, default=None, help="guidance at the first pass of a codebook (default 10)")
    g.add_argument("--min-cfg", type=float, default=None, help="guidance at its last pass (default 1)")
    g.add_argument("--no-anneal-temperature", action="store_true",
                   help="keep --temperature constant instead of lowering it pass by pass")


def magnet_content(args: argparse.Namespace) -> dict[str, Any]:
    """The MAGNeT fields the command line sets (absent flags: the model's defaults)."""
    out = {field: getattr(args, dest) for dest, field in _FIELDS.items() if getattr(args, dest, None) is not None}
    if getattr(args, "no_anneal_temperature", False):
        out["anneal_temperature"] = False
    return out
