"""A request whose send cannot go out (no live route: engine down, CURVE refused) ends in an error."""

from __future__ import annotations

import time

import pytest
import zmq

from musicgen_bridge.bridge.client import Client
from musicgen_bridge.engine.errors import EngineError


def test_a_send_with_no_route_is_bounded_and_unreachable(monkeypatch):
    client = Client("tcp://127.0.0.1:9", timeout=0.5)
    sent: list[int] = []

    def blocked_send(self, frames, *args, **kwargs):  # what a DEALER without a live pipe does
        sent.append(self.getsockopt(zmq.SNDTIMEO))
        raise zmq.Again()

    monkeypatch.setattr(zmq.Socket, "send_multipart", blocked_send)
    start = time.monotonic()
    with client, pytest.raises(EngineError) as err:
        client.request("ping", retries=1)
    assert err.value.code == "unreachable"
    assert sent == [500, 500]  # each attempt's send was bounded by the request's timeout
    assert time.monotonic() - start < 5
