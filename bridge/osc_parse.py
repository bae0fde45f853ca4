"""OSC packets to messages with every size checked first, so no packet can loop or flood the parser.

python-osc's bundle parser trusts each element's size: a size of -4 moves its read position back to
where it was and it loops forever (docs/upstream/python-osc-bundle-loop.md). We walk bundles ourselves
and hand python-osc only single, bounds-checked messages.

>>> from pythonosc.osc_message_builder import build_msg
>>> parse_packet(build_msg("/mgb/ping", []).dgram)
[('/mgb/ping', [])]
"""

from __future__ import annotations

import json
import struct
from typing import Any

from pythonosc.osc_message import OscMessage

from ..engine.errors import EngineError

BUNDLE_PREFIX = b"#bundle\x00"
#: messages in one packet, bundles included: each gets an answer, so this also bounds the replies
MAX_MESSAGES = 16
#: bundles inside bundles
MAX_DEPTH = 4

Parsed = list[tuple[str, list[Any]]]


def parse_packet(data: bytes) -> Parsed:
    """The (address, arguments) of every message in ``data``, in order.

    Raises ``EngineError("bad_envelope")`` for a malformed packet and ``EngineError("too_large")`` for
    more than :data:`MAX_MESSAGES` messages or bundles nested deeper than :data:`MAX_DEPTH`."""
    out: Parsed = []
    _walk(bytes(data), 0, out)
    return out


def _bad(why: str) -> EngineError:
    return EngineError("bad_envelope", f"not a valid OSC packet: {why}")


def _walk(data: bytes, depth: int, out: Parsed) -> None:
    if data.startswith(BUNDLE_PREFIX):
        if depth >= MAX_DEPTH:
            raise EngineError("too_large", f"OSC bundles nested more than {MAX_DEPTH} deep")
        index = len(BUNDLE_PREFIX) + 8  # the time tag: messages run on arrival, so it is not read
        if len(data) < index:
            raise _bad("a bundle shorter than its header")
        while index < len(data):
            if len(data) - index < 4:
                raise _bad("a bundle element without a whole size")
            (size,) = struct.unpack_from(">i", data, index)
            index += 4
            # every step moves forward by at least 4 bytes: the walk ends whatever the sizes say
            if size <= 0 or size % 4 or size > len(data) - index:
                raise _bad(f"a bundle element size of {size} at byte {index - 4}")
            _walk(data[index:index + size], depth + 1, out)
            index += size
        return
    if not data.startswith(b"/"):
        raise _bad("neither a message (starts with /) nor a bundle (starts with #bundle)")
    if len(out) >= MAX_MESSAGES:
        raise EngineError("too_large", f"an OSC packet may hold at most {MAX_MESSAGES} messages")
    try:
        msg = OscMessage(data)
    except Exception as exc:  # noqa: BLE001 - python-osc raises several parse error types
        raise _bad(str(exc)[:200]) from None
    out.append((msg.address, list(msg.params)))


def error_args(job_id: str, code: str, message: str, request_id: str = "", msg_type: str = "",
               details: Any = None) -> list[Any]:
    """``/mgb/error``'s arguments: s:job_id s:code s:message s:request_id s:msg_type s:details (JSON).

    >>> error_args("", "invalid_field", "bpm must be 20..400", "r-1", "generate", {"field": "bpm"})[3:]
    ['r-1', 'generate', '{"field": "bpm"}']
    """
    return [job_id, code, message, request_id, msg_type, json.dumps(details or {}, default=str)]
