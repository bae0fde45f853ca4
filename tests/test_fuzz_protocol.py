"""Property-based fuzzing of the protocol decoder: whatever bytes arrive, ``decode`` returns a message
or raises EngineError with a documented code; nothing else escapes."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from musicgen_bridge.bridge.protocol import MIN_NORMAL, Message, decode, encode, new_message
from musicgen_bridge.engine import limits
from musicgen_bridge.engine.errors import ERROR_CODES, EngineError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) \
    | st.text(max_size=20)
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=20)
header_keys = st.sampled_from(["msg_id", "msg_type", "version", "session", "date"])
headers = st.dictionaries(header_keys | st.text(max_size=6), json_values
                          | st.sampled_from(["ping", "generate", "status", "1.0", "2.0", "1", ""]), max_size=6)
envelopes = st.fixed_dictionaries({}, optional={"header": headers | json_values, "content": json_values,
                                                "parent_header": json_values})


def _decode_or_code(data: bytes | str) -> Message | str:
    try:
        return decode(data)
    except EngineError as exc:
        assert exc.code in ERROR_CODES
        return exc.code


@FUZZ
@given(st.binary(max_size=300))
@example(b"")
@example(b"\xff\xfe\x00")
@example(b"[" * 100_000)
@example(b'{"header": {"msg_type": "ping"}, "content": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001)
def test_any_bytes(data):
    out = _decode_or_code(data)
    if isinstance(out, Message):
        assert isinstance(out.msg_type, str) and out.msg_type and isinstance(out.content, dict)


@FUZZ
@given(envelopes)
def test_any_json_shaped_like_an_envelope(obj):
    text = json.dumps(obj, allow_nan=True)  # NaN and Infinity on purpose: the decoder must refuse them
    out = _decode_or_code(text)
    if isinstance(out, Message):
        assert out.header is obj["header"] or out.header == obj["header"]
        assert out.content == obj.get("content", {})
        assert isinstance(out.msg_type, str) and out.msg_type


@FUZZ
@given(st.sampled_from(["ping", "generate", "status", "fetch", "x"]), json_values, st.text(max_size=10))
@example("ping", 1.1125369292536007e-308, "")
@example("ping", {"a": [2.5e-310]}, "s")
def test_well_formed_messages_round_trip(msg_type, value, session):
    msg = new_message(msg_type, {"value": value}, session=session)
    out = _decode_or_code(encode(msg)) if _finite(value) else None
    if out is not None and _subnormal(value):
        assert out == "invalid_field"  # docs/protocol.md: numbers are 0 or at least MIN_NORMAL in size
    elif out is not None:
        assert isinstance(out, Message), out
        assert (out.msg_type, out.content, out.session) == (msg_type, {"value": value}, session)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=3 * limits.MAX_JSON_DEPTH))
def test_nesting_limit(depth):
    content = "[" * depth + "]" * depth
    out = _decode_or_code('{"header": {"msg_type": "ping"}, "content": {"a": ' + content + "}}")
    # the envelope and content objects are 2 levels, the lists the rest
    assert (out == "too_large") == (depth + 2 > limits.MAX_JSON_DEPTH)


def _finite(value) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


def _subnormal(value) -> bool:
    """A float anywhere in ``value`` too small to divide by (0 < |x| < MIN_NORMAL)."""
    if isinstance(value, float):
        return 0.0 < abs(value) < MIN_NORMAL
    if isinstance(value, dict):
        return any(_subnormal(v) for v in value.values())
    if isinstance(value, list):
        return any(_subnormal(v) for v in value)
    return False
