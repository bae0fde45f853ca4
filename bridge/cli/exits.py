"""Exit statuses of the ``musicgen-bridge`` command, one per kind of outcome, and how errors print.

>>> exit_code("invalid_field"), exit_code("unreachable"), exit_code("timeout"), exit_code("internal")
(2, 3, 4, 1)
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ...engine.errors import ERROR_CODES, EngineError

EXIT_OK = 0
EXIT_FAILED = 1  # the engine tried and failed (internal, model_unavailable, busy, ...)
EXIT_BAD_REQUEST = 2  # fix the command line or the input files
EXIT_UNREACHABLE = 3  # no engine answered (or it refused us)
EXIT_TIMEOUT = 4  # we stopped waiting; the job goes on in the engine
EXIT_CANCELLED = 5  # the job was cancelled, or the engine stopped while it ran
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM in the CLI itself (the job is cancelled first)

BAD_REQUEST_CODES = frozenset({
    "invalid_field", "missing_field", "too_large", "unknown_model", "bad_envelope", "bad_json",
    "path_not_allowed", "file_exists", "bad_midi", "bad_audio", "bad_fx", "no_melody_support", "unknown_job",
    "unknown_session", "unknown_msg_type", "unsupported_version", "not_found", "bad_tokens", "unsupported_decoder",
    "no_style_support"})
_SPECIAL = {"unreachable": EXIT_UNREACHABLE, "unauthorized": EXIT_UNREACHABLE, "timeout": EXIT_TIMEOUT,
            "cancelled": EXIT_CANCELLED, "interrupted": EXIT_CANCELLED}


def exit_code(code: str) -> int:
    """The CLI's exit status for an error code (docs/cli.md has the table)."""
    if code in _SPECIAL:
        return _SPECIAL[code]
    return EXIT_BAD_REQUEST if code in BAD_REQUEST_CODES else EXIT_FAILED


def exit_table() -> dict[str, int]:
    """Every error code -> its exit status (the docs' table is checked against this)."""
    return {code: exit_code(code) for code in ERROR_CODES}


def report_error(exc: EngineError, as_json: bool) -> int:
    """Print one error line on stderr and, with ``--json``, the error as the one JSON object on stdout
    (the line stays for readers of stderr, such as the ReaScripts); return the exit status."""
    status = exit_code(exc.code)
    if as_json:
        out: dict[str, Any] = {"status": "error", **exc.to_dict(), "exit_code": status}
        print(json.dumps(out), flush=True)
    print(f"musicgen-bridge: {exc.code}: {exc.message}", file=sys.stderr, flush=True)
    return status
