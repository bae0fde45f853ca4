"""docs/protocol.md cannot fall behind the code: every request, event, OSC address, limit and error
code the code knows must be in it, as the code has it."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from pythonosc.osc_message import OscMessage

from musicgen_bridge.bridge import handlers, osc_server, osc_tcp, protocol_doc
from musicgen_bridge.bridge.osc_server import OscRouter, event_dgram
from musicgen_bridge.bridge.protocol import EVENT_TYPES, PROTOCOL_VERSION, REQUEST_TYPES
from musicgen_bridge.engine import limits
from musicgen_bridge.engine.errors import ERROR_CODES

DOC = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()


def test_generated_tables_are_current():
    """Reply fields, limits, error codes and CLI exit statuses: regenerate and compare."""
    assert not protocol_doc.missing(DOC), f"docs/protocol.md lost the markers of {protocol_doc.missing(DOC)}"
    new = protocol_doc.render(DOC)
    if new != DOC:
        diff = "\n".join(difflib.unified_diff(DOC.splitlines(), new.splitlines(), lineterm="", n=0))
        pytest.fail("run `python -m musicgen_bridge.bridge.protocol_doc`; it would change:\n" + diff)


def test_the_generator_notices_a_changed_limit(monkeypatch):
    monkeypatch.setattr(limits, "MAX_LIVE_SESSIONS", limits.MAX_LIVE_SESSIONS + 1)
    assert protocol_doc.render(DOC) != DOC


@pytest.mark.parametrize("code", list(ERROR_CODES))
def test_every_error_code_is_documented(code):
    assert f"| `{code}` |" in DOC


@pytest.mark.parametrize("msg_type", list(REQUEST_TYPES))
def test_every_request_type_has_a_section(msg_type):
    assert f"\n### {msg_type}\n" in DOC
    assert f"[`{msg_type}`](#{msg_type})" in DOC  # and a row in the overview table


@pytest.mark.parametrize("event", list(EVENT_TYPES))
def test_every_event_type_is_in_the_events_table(event):
    assert re.search(rf"^\| `{event}` \| ", DOC, re.MULTILINE)


def _doc_row(address: str) -> str:
    rows = [line for line in DOC.splitlines() if line.startswith(f"| `{address}` |")]
    assert rows, f"{address} is not in an OSC table"
    return rows[0]


def test_typed_osc_addresses_have_the_documented_type_tags():
    router = OscRouter(handler=None)  # type: ignore[arg-type] - only its address table is read
    for address, (tags, _build) in router.typed.items():
        args_cell = re.sub(r"`\[[^]]*\]`", "", _doc_row(address).split("|")[2])  # [optional] arguments
        documented = "".join(re.findall(r"\b([sifb]):", args_cell))
        assert documented == tags, f"{address}: doc says {documented!r}, code takes {tags!r}"
    assert "".join(re.findall(r"\b([sifb]):", _doc_row("/mgb/hello").split("|")[2])) == "is"  # port [client_id]
    assert "".join(re.findall(r"\b([sifb]):", _doc_row("/mgb/part").split("|")[2])) == "siiss"


SAMPLE_EVENT = {"job_id": "j-1", "fraction": 0.5, "path": "/x.wav", "start_bar": 1, "frames": 96000,
                "code": "internal", "message": "m", "session_id": "s", "index": 0, "bars": 1, "rtf": 1.0,
                "beat": 0.0}


@pytest.mark.parametrize("event", list(EVENT_TYPES))
def test_osc_event_forms_match_the_doc(event):
    dgram = event_dgram(event, SAMPLE_EVENT)
    if dgram is None:
        return  # no OSC form (welcome, status): the doc's events table says "–"
    msg = OscMessage(dgram)
    tags = "".join("s" if isinstance(p, str) else "i" if isinstance(p, int) else "f" for p in msg.params)
    args_cell = _doc_row(msg.address).split("|")[2]
    assert "".join(re.findall(r"\b([sifb]):", args_cell)) == tags, msg.address


def test_limits_and_versions_are_the_codes():
    assert f"**Protocol version {PROTOCOL_VERSION}**" in DOC
    expected = [
        f"| `prompt` | {limits.MAX_PROMPT_CHARS} characters |",
        f"| `bars` | {limits.MAX_BARS} |",
        f"| `variations` | {limits.MAX_VARIATIONS} |",
        f"| `output_name` | {limits.MAX_NAME_CHARS} characters |",
        f"| JSON part of a message | {limits.MAX_JSON_BYTES // 2**20} MiB |",
        f"| one ZeroMQ frame (buffers included) | {limits.MAX_MESSAGE_BYTES // 2**20} MiB |",
        f"| OSC datagram over UDP | {osc_server.SAFE_UDP_BYTES} bytes |",
        f"| OSC packet over TCP | {osc_tcp.MAX_TCP_PACKET // 2**20} MiB |",
        f"| queued + running jobs | {limits.MAX_QUEUE} ",
        f"| `status.wait` | {handlers.MAX_STATUS_WAIT_S:g} s |",
        f"| `fetch.length` | {handlers.FETCH_CHUNK_MAX // 2**20} MiB |",
        f"| audio per request | {limits.MAX_SECONDS} s",
        f"| {handlers.FETCH_CHUNK} ({handlers.FETCH_CHUNK // 1024} KiB) | 0 – {handlers.FETCH_CHUNK_MAX} ",
    ]
    missing = [row for row in expected if row not in DOC]
    assert not missing, missing


def test_buffer_fields_are_documented():
    for keys in handlers.BUFFER_FIELDS:
        assert f"`{'.'.join(keys)}`" in DOC.split("**Replies**")[0]
