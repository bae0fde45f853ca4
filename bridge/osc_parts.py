"""Requests too large for one UDP datagram, sent in pieces: ``/mgb/part``.

``/mgb/part s:upload_id i:index i:count s:address s:piece`` carries piece ``index`` (0-based) of
``count`` of a request's JSON content; when all have arrived (in any order), the pieces joined
are handled as ``address s:json``. A Max for Live device sends a 300-note melody this way.

>>> parts = Parts(clock=lambda: 0.0)
>>> parts.add("127.0.0.1", "u-1", 1, 2, "/mgb/generate", '"x"}')
>>> parts.add("127.0.0.1", "u-1", 0, 2, "/mgb/generate", '{"prompt":')
('/mgb/generate', '{"prompt":"x"}')
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..engine import limits
from ..engine.errors import EngineError

#: an upload whose pieces have not all come within this time is dropped
PART_TTL_S = 60.0
MAX_PARTS = 4096
#: uploads in progress, over all clients (the oldest is dropped beyond this)
MAX_UPLOADS = 64
MAX_UPLOAD_ID_CHARS = 200
NOT_SPLIT = ("/mgb/part", "/mgb/hello", "/mgb/bye")


@dataclass
class _Upload:
    address: str
    count: int
    started: float
    pieces: dict[int, str] = field(default_factory=dict)
    size: int = 0


class Parts:
    """Collects the pieces of split requests per (host, upload id)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, ttl: float = PART_TTL_S,
                 max_bytes: int = limits.MAX_JSON_BYTES) -> None:
        self.clock, self.ttl, self.max_bytes = clock, ttl, max_bytes
        self._uploads: dict[tuple[str, str], _Upload] = {}
        self._lock = threading.Lock()

    def add(self, host: str, upload_id: str, index: int, count: int, address: str,
            piece: str) -> tuple[str, str] | None:
        """Keep one piece; returns (address, joined JSON) when it completes the upload."""
        if not upload_id or len(upload_id) > MAX_UPLOAD_ID_CHARS:
            raise EngineError("invalid_field", f"/mgb/part: upload id must be 1..{MAX_UPLOAD_ID_CHARS} characters")
        if not 1 <= count <= MAX_PARTS or not 0 <= index < count:
            raise EngineError("invalid_field", f"/mgb/part: count must be 1..{MAX_PARTS} and index 0..count-1")
        if not address.startswith("/mgb/") or address in NOT_SPLIT:
            raise EngineError("invalid_field", f"/mgb/part: {address} cannot be sent in parts")
        now = self.clock()
        key = (host, upload_id)
        with self._lock:
            for old in [k for k, u in self._uploads.items() if now - u.started > self.ttl]:
                del self._uploads[old]
            upload = self._uploads.get(key)
            if upload is None:
                upload = self._uploads[key] = _Upload(address, count, now)
                while len(self._uploads) > MAX_UPLOADS:
                    del self._uploads[next(iter(self._uploads))]
            if (upload.address, upload.count) != (address, count):
                del self._uploads[key]
                raise EngineError("invalid_field", f"/mgb/part: upload {upload_id} changed its address or count")
            if index not in upload.pieces:
                upload.size += len(piece.encode("utf-8"))
            upload.pieces[index] = piece
            if upload.size > self.max_bytes:
                del self._uploads[key]
                raise EngineError("too_large", f"/mgb/part: the request is over {self.max_bytes} bytes")
            if len(upload.pieces) < count:
                return None
            del self._uploads[key]
        return address, "".join(upload.pieces[i] for i in range(count))


__all__ = ["MAX_PARTS", "PART_TTL_S", "Parts"]
