"""``jobs``, ``live list``, ``models``: what the running engine has, as tables (or ``--json``).

``models`` asks the running engine (it knows what is loaded); with no engine it answers from this
machine's cache, says so on stderr, and never imports torch (it takes well under a second).

>>> print(table([{"name": "tiny", "cached": True}], [("name", "name"), ("cached", "cached")]))
name  cached
tiny  yes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ...engine.errors import EngineError

MODELS_PING_S = 1.0
MODEL_COLUMNS = [("name", "name"), ("params", "size"), ("melody", "melody"), ("stereo", "stereo"),
                 ("cached", "cached"), ("loaded", "loaded")]
JOB_COLUMNS = [("job_id", "job"), ("kind", "kind"), ("state", "state"), ("progress", "progress"),
               ("created", "created"), ("takes", "takes")]
SESSION_COLUMNS = [("session_id", "session"), ("running", "running"), ("windows", "windows"),
                   ("playhead_bar", "playhead bar"), ("generated_until_bar", "made until bar"),
                   ("underruns", "underruns")]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "-"
    if value is None:
        return "?"
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """Rows as aligned text columns, a header first."""
    cells = [[title for _, title in columns]] + [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells)


def local_model_rows(cache_dir: str | None) -> list[dict[str, Any]]:
    """What this machine knows without an engine: the registry's specs and the Hugging Face cache."""
    from ...engine.models import hf
    from ...engine.models.specs import MODEL_SPECS

    cache = hf.cache_dir(cache_dir)
    return [{"name": s.name, "params": s.params, "melody": s.melody, "stereo": s.stereo, "builtin": s.builtin,
             "cached": s.builtin or hf.is_cached(s.hf_id or s.name, cache), "loaded": None}
            for s in MODEL_SPECS.values()]


def cmd_models(args: argparse.Namespace) -> int:
    from .remote import connect

    try:
        # a listing falls back to local knowledge, so it need not wait long for an absent engine
        with connect(args, ping_timeout=MODELS_PING_S) as client:
            rows = client.models()
    except EngineError as exc:
        if exc.code not in ("unreachable", "unauthorized"):
            raise
        rows = local_model_rows(args.cache_dir)
        print(f"musicgen-bridge: note: no engine answered at {args.server}; this machine's cache shown, "
              "`loaded` unknown (start one with `musicgen-bridge serve`)", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))  # a list, as before; `loaded` is null when no engine was asked
    else:
        print(table(rows, MODEL_COLUMNS))
    return 0


def _job_row(job: dict[str, Any]) -> dict[str, Any]:
    result = job.get("result") or {}
    takes = [t["path"] for t in result.get("takes") or ([result] if result.get("path") else [])]
    when = job.get("created")
    return {**job, "progress": f"{job.get('progress', 0):.0%}", "takes": ", ".join(takes) or "-",
            "created": time.strftime("%H:%M:%S", time.localtime(when)) if when else "?",
            "state": job["state"] + (f" ({job['error']['code']})" if job.get("error") else "")}


def cmd_jobs(args: argparse.Namespace) -> int:
    from .remote import connect

    with connect(args) as client:
        jobs = client.request("jobs", {"limit": 20}).content["jobs"]
    if args.json:
        print(json.dumps({"jobs": jobs}))
    elif not jobs:
        print("no jobs yet in this run of the engine")
    else:
        print(table([_job_row(j) for j in jobs], JOB_COLUMNS))
    return 0


def cmd_live_list(args: argparse.Namespace) -> int:
    from .remote import connect

    with connect(args) as client:
        sessions = client.request("live_list").content["sessions"]
    if args.json:
        print(json.dumps({"sessions": sessions}))
    elif not sessions:
        print("no live sessions")
    else:
        print(table(sessions, SESSION_COLUMNS))
    return 0
