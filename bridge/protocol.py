"""The musicgen-bridge protocol: a versioned JSON envelope shared by every transport.

A message is ``{"header": {...}, "parent_header": {...}, "content": {...}}``; a reply or event
carries its request's header as ``parent_header``. Binary payloads (input audio, file chunks)
travel beside the JSON as ZeroMQ frames and are referred to by index from the content
(``{"buffer": 0}``). docs/protocol.md is the specification; this module is its code.

>>> msg = new_message("ping", {})
>>> decoded = decode(encode(msg))
>>> decoded.msg_type, decoded.content
('ping', {})
"""

from __future__ import annotations

import json
import math
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..engine import limits
from ..engine.errors import EngineError

PROTOCOL_VERSION = "1.0"
#: the smallest non-zero magnitude a number may have (the smallest normal double)
MIN_NORMAL = sys.float_info.min
SUPPORTED_MAJOR = "1"
#: a client-chosen request id (header ``request_id``, OSC content ``request_id``) is echoed in every answer
MAX_REQUEST_ID_CHARS = 64

#: requests a client may send -> one-line description (docs/protocol.md has the fields)
REQUEST_TYPES: dict[str, str] = {
    "ping": "Liveness and versions.",
    "models": "List known models, what is cached and loaded.",
    "generate": "Text (and melody) to a bar-exact clip.",
    "continue": "Continue an audio item from its last whole bars.",
    "codec_encode": "Audio to an EnCodec tokens file at a bandwidth.",
    "codec_decode": "An EnCodec tokens file back to audio at the session rate.",
    "codec_bounce": "Audio through EnCodec at a bandwidth and back (the codec's sound).",
    "live_start": "Start a live session that stays ahead of the playhead.",
    "live_stop": "Stop a live session.",
    "transport": "Report the DAW transport (beat, bpm, playing).",
    "status": "A job's state, progress and result; can wait for the end.",
    "cancel": "Cancel a job between decoding steps.",
    "jobs": "The engine's recent jobs (this run), newest first.",
    "live_list": "The engine's live sessions.",
    "fetch": "Read a finished file's bytes in chunks, with a checksum.",
}

#: events the engine publishes -> one-line description
EVENT_TYPES: dict[str, str] = {
    "welcome": "The subscription is live (ZeroMQ); safe to send requests.",
    "accepted": "A job entered the queue.",
    "progress": "Fraction of a job's decoding steps done.",
    "window": "A live-mode window is ready on disk.",
    "underrun": "A live session fell behind the playhead.",
    "done": "A job finished; the file is on disk.",
    "error": "A job or request failed, with a stable code.",
    "status": "Engine status changed (idle/busy).",
}


@dataclass
class Message:
    msg_type: str
    content: dict[str, Any]
    header: dict[str, Any]
    parent_header: dict[str, Any] = field(default_factory=dict)
    buffers: list[bytes] = field(default_factory=list)

    @property
    def msg_id(self) -> str:
        return str(self.header.get("msg_id", ""))

    @property
    def session(self) -> str:
        return str(self.header.get("session", ""))

    @property
    def request_id(self) -> str:
        """The client's own id for this request ("" when it chose none)."""
        return str(self.header.get("request_id", ""))


def new_header(msg_type: str, session: str = "") -> dict[str, Any]:
    return {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "version": PROTOCOL_VERSION, "session": session,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def new_message(msg_type: str, content: dict[str, Any], parent: Message | None = None, session: str = "",
                buffers: list[bytes] | None = None) -> Message:
    """A message; answering ``parent``, it quotes its header and echoes its ``request_id``.

    >>> request = new_message("ping", {})
    >>> request.header["request_id"] = "mine-7"
    >>> new_message("ping_reply", {}, parent=request).header["request_id"]
    'mine-7'
    """
    header = new_header(msg_type, session or (parent.session if parent else ""))
    echo = parent.header.get("request_id") if parent is not None else None
    if isinstance(echo, str) and 0 < len(echo) <= MAX_REQUEST_ID_CHARS:
        header["request_id"] = echo
    return Message(msg_type=msg_type, content=content, header=header,
                   parent_header=dict(parent.header) if parent else {}, buffers=list(buffers or []))


def check_request_id(value: Any, where: str = "header.request_id", code: str = "bad_envelope") -> str:
    """A client's request id: a string of 1..MAX_REQUEST_ID_CHARS characters."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_REQUEST_ID_CHARS:
        raise EngineError(code, f"{where} must be a string of 1..{MAX_REQUEST_ID_CHARS} characters",
                          field=where.rpartition(".")[2])
    return value


def reply_to(request: Message, content: dict[str, Any], buffers: list[bytes] | None = None) -> Message:
    """``<msg_type>_reply`` with ``status: ok`` unless the content says otherwise."""
    return new_message(f"{request.msg_type}_reply", {"status": "ok", **content}, parent=request, buffers=buffers)


def error_content(err: EngineError, job_id: str = "") -> dict[str, Any]:
    out = {"status": "error", **err.to_dict()}
    if job_id:
        out["job_id"] = job_id
    return out


def check_finite(obj: Any) -> Any:
    """Reject NaN/Infinity anywhere (JSON has no such numbers and they poison arithmetic), and nesting
    deeper than ``limits.MAX_JSON_DEPTH`` (it would exhaust Python's stack further on)."""
    stack = [(obj, 1)]  # a loop, not recursion: the depth is what is being checked
    while stack:
        value, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise EngineError("invalid_field", "numbers must be finite (no NaN or Infinity)")
        if isinstance(value, float) and 0.0 < abs(value) < MIN_NORMAL:
            # subnormal numbers (1e-310) turn into infinities when something divides by them
            raise EngineError("invalid_field", f"numbers must be 0 or at least {MIN_NORMAL:g} in size, got {value!r}")
        if isinstance(value, (dict, list)):
            if depth > limits.MAX_JSON_DEPTH:
                raise _too_deep()
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return obj


def _too_deep() -> EngineError:
    return EngineError("too_large", f"the JSON is nested more than {limits.MAX_JSON_DEPTH} levels deep")


def _reject_constant(name: str) -> Any:
    raise EngineError("invalid_field", f"{name} is not a valid JSON number")


def loads(data: bytes | str) -> Any:
    if len(data) > limits.MAX_JSON_BYTES:
        raise EngineError("too_large", f"the JSON part is {len(data)} bytes; the limit is {limits.MAX_JSON_BYTES}; "
                          "send audio as binary buffers or a file reference")
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except EngineError:
        raise
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise EngineError("bad_json", f"not valid JSON: {exc}") from None


def decode(data: bytes | str, buffers: list[bytes] | None = None) -> Message:
    """Parse and check an envelope; raises EngineError with bad_json/bad_envelope/unsupported_version."""
    obj = loads(data)
    if not isinstance(obj, dict):
        raise EngineError("bad_json", "the message must be a JSON object")
    header = obj.get("header")
    content = obj.get("content", {})
    parent = obj.get("parent_header", {}) or {}
    if not isinstance(header, dict):
        raise EngineError("bad_envelope", "the message needs a header object")
    if not isinstance(content, dict) or not isinstance(parent, dict):
        raise EngineError("bad_envelope", "content and parent_header must be objects")
    msg_type = header.get("msg_type")
    if not isinstance(msg_type, str) or not msg_type:
        raise EngineError("bad_envelope", "header.msg_type must be a non-empty string")
    for key in ("msg_id", "session"):
        if key in header and not isinstance(header[key], str):
            raise EngineError("bad_envelope", f"header.{key} must be a string")
    if "request_id" in header:
        check_request_id(header["request_id"])
    version = header.get("version", PROTOCOL_VERSION)
    if not isinstance(version, str) or version.split(".")[0] != SUPPORTED_MAJOR:
        raise EngineError("unsupported_version", f"protocol version {version!r} is not supported; "
                          f"this engine speaks {PROTOCOL_VERSION}")
    check_finite(obj)
    return Message(msg_type=msg_type, content=content, header=header, parent_header=parent,
                   buffers=list(buffers or []))


def encode(msg: Message) -> bytes:
    return json.dumps({"header": msg.header, "parent_header": msg.parent_header, "content": msg.content},
                      separators=(",", ":"), allow_nan=False, default=str).encode()
