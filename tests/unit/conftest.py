"""The unit suite: services with in-memory fakes (fakes.py); no moto, no server, no socket at all."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("a unit test opened a connection; use the fakes in tests/unit/fakes.py")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
