"""The reply fields docs/protocol.md lists (bridge.protocol_fields) are the ones the engine sends:
every request type is answered here through the real handler and its keys compared; the defaults,
ranges and choices of the generated ``generate`` table are the ones ``GenerateRequest.from_dict`` enforces."""

from __future__ import annotations

import pytest

from musicgen_bridge.bridge import protocol_fields
from musicgen_bridge.bridge.handlers import RequestHandler
from musicgen_bridge.bridge.protocol import REQUEST_TYPES, new_message
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.request import GenerateRequest


@pytest.fixture(scope="module")
def replies(engine):
    handler = RequestHandler(engine)
    events: list[tuple[str, dict]] = []

    def ask(msg_type, content=None):
        reply, _ = handler.handle(new_message(msg_type, content or {}), lambda e, c: events.append((e, c)))
        return reply

    out = {"ping": ask("ping"), "models": ask("models")}
    out["generate"] = ask("generate", {"bars": 1, "seed": 3})
    job = out["generate"]["job_id"]
    out["status"] = ask("status", {"job_id": job, "wait": 20})
    assert out["status"]["state"] == "done", out["status"]
    out["cancel"] = ask("cancel", {"job_id": job})
    out["fetch"] = ask("fetch", {"job_id": job, "length": 16})
    out["continue"] = ask("continue", {"audio": {"path": out["status"]["result"]["path"]}, "bars": 1})
    ask("status", {"job_id": out["continue"]["job_id"], "wait": 20})
    take = out["status"]["result"]["path"]
    codec = {"model": "tiny-encodec", "bandwidth": 0.9}
    out["codec_encode"] = ask("codec_encode", {"audio": take, **codec})
    encoded = ask("status", {"job_id": out["codec_encode"]["job_id"], "wait": 20})
    assert encoded["state"] == "done", encoded
    out["codec_decode"] = ask("codec_decode", {"tokens": encoded["result"]["path"]})
    out["codec_bounce"] = ask("codec_bounce", {"audio": take, **codec})
    for kind in ("codec_decode", "codec_bounce"):
        assert ask("status", {"job_id": out[kind]["job_id"], "wait": 20})["state"] == "done", kind
    out["live_start"] = ask("live_start", {"window_bars": 1, "ahead_bars": 1})
    out["transport"] = ask("transport", {"beat": 0, "bpm": 120, "session_id": out["live_start"]["session_id"]})
    out["live_list"] = ask("live_list")
    out["live_stop"] = ask("live_stop", {"session_id": out["live_start"]["session_id"]})
    out["jobs"] = ask("jobs", {"limit": 200})
    yield out
    handler.close()


@pytest.mark.parametrize("msg_type", list(REQUEST_TYPES))
def test_reply_fields_are_the_declared_ones(replies, msg_type):
    keys = set(replies[msg_type])
    assert protocol_fields.required_fields(msg_type) <= keys, "declared but not sent"
    assert keys <= protocol_fields.all_fields(msg_type), "sent but not declared (docs/protocol.md)"


def test_a_done_status_carries_the_declared_optional_result(replies):
    assert "result" in replies["status"] and "error" not in replies["status"]
    assert set(replies["status"]["result"]["timing"]) == {"load_s", "generate_s", "render_s", "write_s", "rtf"}


def test_listed_jobs_and_sessions_have_the_status_fields(replies):
    """`jobs` lists what `status` replies plus `created`; `live_list` what `live_stop` replies."""
    kinds = set()
    for job in replies["jobs"]["jobs"]:
        assert protocol_fields.required_fields("status") | {"created"} <= set(job)
        assert set(job) <= protocol_fields.all_fields("status") | {"created"}
        kinds.add(job["kind"])
    assert {"generate", "continue", "codec_encode", "codec_decode", "codec_bounce"} <= kinds
    assert [s["session_id"] for s in replies["live_list"]["sessions"]] == [replies["live_start"]["session_id"]]
    for session in replies["live_list"]["sessions"]:
        assert protocol_fields.required_fields("live_stop") <= set(session) <= protocol_fields.all_fields("live_stop")


def test_every_request_type_is_declared():
    assert set(protocol_fields.REPLIES) == set(REQUEST_TYPES)


# -- request fields: the numbers in the generated table are the validator's ---------------------------

#: a short request, so the largest bar count stays under the audio-length limit
_SHORT = {"bpm": 400, "time_signature": "1/16"}
_CHECKED = [f for f in protocol_fields.GENERATE_FIELDS
            if f.lo is not None or f.max_chars is not None or f.choices is not None
            or f.default is not protocol_fields._UNSET]


def _refused(content, name):
    with pytest.raises(EngineError) as err:
        GenerateRequest.from_dict(content)
    assert err.value.code in ("invalid_field", "too_large") and err.value.details.get("field") == name


@pytest.mark.parametrize("spec", _CHECKED, ids=lambda f: f.name)
def test_documented_defaults_ranges_and_choices_are_enforced(spec):
    name = spec.name

    def _value(req, _name):
        return spec.value(req)

    if spec.default is not protocol_fields._UNSET:
        assert _value(GenerateRequest.from_dict({}), name) == spec.default
    if spec.lo is not None and spec.hi is not None:
        base = _SHORT if name != "bpm" else {}
        assert _value(GenerateRequest.from_dict({**base, name: spec.hi}), name) == spec.hi
        _refused({**base, name: spec.hi + 1}, name)
        if spec.lo_open:
            _refused({**base, name: spec.lo}, name)
        else:
            assert _value(GenerateRequest.from_dict({**base, name: spec.lo}), name) == spec.lo
        _refused({**base, name: spec.lo - 1}, name)
    if spec.max_chars is not None:
        GenerateRequest.from_dict({name: "a" * spec.max_chars})
        _refused({name: "a" * (spec.max_chars + 1)}, name)
    if spec.choices is not None:
        for choice in spec.choices:
            assert _value(GenerateRequest.from_dict({name: choice}), name) == choice
        for other in spec.more_choices:
            GenerateRequest.from_dict({name: other})
        _refused({name: "no-such-" + name}, name)
