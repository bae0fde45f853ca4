"""The reply fields docs/protocol.md lists (bridge.protocol_fields) are the ones the engine sends:
every request type is answered here through the real handler and its keys compared."""

from __future__ import annotations

import pytest

from musicgen_bridge.bridge import protocol_fields
from musicgen_bridge.bridge.handlers import RequestHandler
from musicgen_bridge.bridge.protocol import REQUEST_TYPES, new_message


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
    out["live_start"] = ask("live_start", {"window_bars": 1, "ahead_bars": 1})
    out["transport"] = ask("transport", {"beat": 0, "bpm": 120, "session_id": out["live_start"]["session_id"]})
    out["live_stop"] = ask("live_stop", {"session_id": out["live_start"]["session_id"]})
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


def test_every_request_type_is_declared():
    assert set(protocol_fields.REPLIES) == set(REQUEST_TYPES)
