"""The ``musicgen-bridge`` command line: argparse lives here and nowhere else.

>>> from musicgen_bridge.bridge.cli import main
>>> main(["models", "--json"])          # prints the model table  # doctest: +SKIP
0
"""

from .commands import main
from .parser import build_parser

__all__ = ["build_parser", "main"]
