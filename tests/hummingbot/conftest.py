"""A bridge running in a thread against the real Mosquitto, for tests that need messages to flow."""

import threading
import uuid

import pytest

from hummingbot.bridge import Bridge


@pytest.fixture
def running_bridge():
    stop = threading.Event()
    bridge = Bridge(client_id=f"bridge-{uuid.uuid4().hex[:8]}")
    thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
    thread.start()
    assert bridge.connected.wait(10)
    yield bridge
    stop.set()
    thread.join(10)
