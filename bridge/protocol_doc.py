"""Regenerates the tables of docs/protocol.md that the code can state: reply fields, limits, error
codes with their CLI exit status. Each lives between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``.

    python -m musicgen_bridge.bridge.protocol_doc            # rewrite docs/protocol.md in place
    python -m musicgen_bridge.bridge.protocol_doc --check    # exit 1 when it is out of date

tests/test_protocol_doc.py fails when the file differs from what this would write.

>>> render("a\\n<!-- limits:begin -->\\nold\\n<!-- limits:end -->\\nb").count("| `prompt` |")
1
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..engine.errors import ERROR_CODES
from .protocol import REQUEST_TYPES
from .protocol_fields import GENERATE_FIELDS, REPLIES, limit_rows

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["|" + "|".join(f" {c} " if c else " " for c in row) + "|" for row in rows])


def error_table() -> str:
    from .cli.exits import exit_code

    return _table(("code", "CLI exit", "meaning"),
                  [(f"`{code}`", str(exit_code(code)), text) for code, text in ERROR_CODES.items()])


def reply_table(msg_type: str) -> str:
    return _table(("field", "type", "meaning"),
                  [(f"`{f.name}`", f.type + ("" if f.always else ", optional"), f.meaning)
                   for f in REPLIES[msg_type]])


def regions() -> dict[str, str]:
    """Marker name -> the text between its markers."""
    out = {"error-codes": error_table(),
           "limits": _table(("limit", "value", "code when exceeded"), limit_rows())}
    out["request:generate"] = _table(("field", "type", "unit", "default", "limit / values", "meaning"),
                                     [f.row() for f in GENERATE_FIELDS])
    out.update({f"reply:{name}": reply_table(name) for name in REQUEST_TYPES})
    return out


def _filler(body: str) -> Callable[[re.Match[str]], str]:
    return lambda m: m.group(1) + body + "\n" + m.group(2)


def render(doc: str) -> str:
    """``doc`` with every marked region that is present replaced by its generated text."""
    for name, body in regions().items():
        pattern = re.compile(rf"(<!-- {re.escape(name)}:begin -->\n)(?:.*?\n)?(<!-- {re.escape(name)}:end -->)",
                             re.DOTALL)
        doc = pattern.sub(_filler(body), doc)
    return doc


def missing(doc: str) -> list[str]:
    """Regions the document lacks the markers of."""
    return [name for name in regions() if f"<!-- {name}:begin -->" not in doc]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    doc = DOC.read_text()
    new = render(doc)
    if args[:1] == ["--check"]:
        return 0 if new == doc and not missing(doc) else 1
    if new != doc:
        DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
