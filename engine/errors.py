"""Stable error codes shared by the engine, the protocol and the CLI.

Every failure a client can cause or observe is an :class:`EngineError` carrying one of the
codes below. The codes are part of the protocol (docs/protocol.md lists them): never rename
one, only add.
"""

from __future__ import annotations

from typing import Any

#: code -> one-line meaning. The protocol doc's error table is generated from this mapping.
ERROR_CODES: dict[str, str] = {
    # request shape
    "bad_json": "The message is not valid JSON or not a JSON object.",
    "bad_envelope": "The envelope lacks header/content or has a wrong field type.",
    "unsupported_version": "The protocol version in the header is not supported.",
    "unknown_msg_type": "The msg_type (or OSC address) is not part of the protocol.",
    "missing_field": "A required field is absent.",
    "invalid_field": "A field has the wrong type, is NaN/infinite, or is out of range.",
    "too_large": "The message, prompt or payload exceeds a size limit.",
    # resources and state
    "unknown_model": "The model name is not in the registry.",
    "model_unavailable": "The model's weights are not cached and cannot be downloaded here.",
    "bad_checkpoint": "A checkpoint file is missing, corrupt, or holds a key, shape or setting that cannot be used.",
    "no_melody_support": "The model has no melody conditioning.",
    "no_style_support": "The model has no style conditioning (MusicGen-Style), or cannot combine it with what was asked.",
    "unknown_job": "No job with that id is known.",
    "busy": "The job queue is full; try again later.",
    "cancelled": "The job was cancelled.",
    "interrupted": "The job was running when the engine stopped.",
    "internal": "An unexpected engine failure; the engine keeps serving.",
    # inputs
    "bad_midi": "The MIDI input is corrupt, truncated, or has no notes in range.",
    "bad_audio": "The audio input cannot be read or is empty in the range.",
    "not_found": "An input file the client names (MIDI, audio, melody or effect-chain file) does not exist.",
    "bad_tokens": "A tokens file is not one, is truncated, or its header does not add up.",
    "path_not_allowed": "A path lies outside the engine's output root and allowed folders.",
    "file_exists": "The output file exists; files are never overwritten.",
    "bad_fx": "The effect chain is invalid (unknown plugin, parameter, value or file).",
    "unsupported": "The feature needs something this machine lacks (named in the message).",
    "no_space": "The disk for the output (or the journal) is full or over its quota.",
    "unsupported_decoder": "The chosen decoder cannot decode this model's tokens, or cannot run in this mode "
                           "(the message says why).",
    # live mode
    "unknown_session": "No live session with that id is running.",
    "too_many_sessions": "The live-session limit is reached.",
    # client side
    "unreachable": "The engine did not answer in time (not running, wrong address, or blocked).",
    "timeout": "The client stopped waiting for a job; the job goes on in the engine (follow it with status).",
    # serving
    "address_in_use": "An address the engine was asked to listen on is taken by another program.",
    # auth
    "unauthorized": "The client is not authorised to use this engine.",
}


class EngineError(Exception):
    """A failure with a stable code, a human message and optional structured details.

    >>> err = EngineError("invalid_field", "bpm must be between 20 and 400", field="bpm")
    >>> err.to_dict()["code"]
    'invalid_field'
    """

    def __init__(self, code: str, message: str, **details: Any) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


#: what an OSError while reading or writing files means to a client
_OS_CODES = {"ENOSPC": "no_space", "EDQUOT": "no_space", "ENAMETOOLONG": "invalid_field", "EROFS": "path_not_allowed",
             "EACCES": "path_not_allowed", "EPERM": "path_not_allowed"}


def from_os_error(exc: OSError) -> EngineError | None:
    """The stable error for a file-system failure a client can cause or meet, or None for others.

    >>> import errno
    >>> from_os_error(OSError(errno.ENOSPC, "No space left on device")).code
    'no_space'
    """
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    code = _OS_CODES.get(name)
    if code is None:
        return None
    return EngineError(code, f"writing the output failed: {exc.strerror or name} (the path is not usable or the disk "
                       "is full)")
