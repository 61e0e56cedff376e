"""Hummingbot's MQTT remote interface, as plain data: topics, the RPC envelope, and an MQTT client
connected to the broker in settings.MQTT_URL.

Commands are RPC at QoS 1 (at least once); streams (heartbeats, events, logs) are QoS 0 (at most
once). Payloads are JSON in which Decimals travel as floats and enums as strings.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

COMMANDS = ("start", "stop", "config", "import", "status", "history", "balance/limit", "balance/paper")
STREAMS = ("hb", "status_updates", "notify", "events", "log")
OK, ERROR = 200, 400
HEARTBEAT_SECONDS = 10  # an instance publishes /hb this often
MISSED_HEARTBEATS = 3  # offline after this many in a row


def enum_value(value) -> str:
    """An enum as the client serialises it ("TradeType.BUY", or plain "BUY"), in lower case;
    "" for nothing."""
    return str(value).rsplit(".", 1)[-1].lower() if value not in (None, "") else ""


def topic(namespace: str, instance_id: str, suffix: str) -> str:
    return f"{namespace}/{instance_id}/{suffix.lstrip('/')}"


def split_topic(name: str) -> tuple[str, str, str] | None:
    """`<namespace>/<instance_id>/<suffix>` -> its three parts, or None for anything else."""
    parts = name.split("/", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def now_ms() -> int:
    return int(time.time() * 1000)


def request(data: dict[str, Any], *, reply_to: str, agent: str = "backoffice") -> bytes:
    """A command request in the RPC envelope."""
    header = {"reply_to": reply_to, "timestamp": now_ms(), "content_type": "json", "encoding": "utf8", "agent": agent}
    return json.dumps({"header": header, "data": data}, default=str).encode()


def response(data: dict[str, Any]) -> bytes:
    """A command answer in the RPC envelope (what an instance publishes on reply_to)."""
    header = {"reply_to": "", "timestamp": now_ms(), "content_type": "json", "encoding": "utf8", "agent": "commlib"}
    return json.dumps({"header": header, "data": data}, default=str).encode()


def reply_topic(agent: str = "backoffice") -> str:
    """A fresh topic for one caller's answers."""
    return f"{agent}/replies/{uuid.uuid4().hex}"


def broker() -> dict[str, Any]:
    """Host, port, credentials and TLS flag from settings.MQTT_URL (mqtt:// or mqtts://)."""
    url = urlsplit(settings.MQTT_URL)
    if url.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"MQTT_URL must start with mqtt:// or mqtts://, not {url.scheme}://")
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or (8883 if url.scheme == "mqtts" else 1883),
        "username": url.username,
        "password": url.password,
        "tls": url.scheme == "mqtts",
    }


def mqtt_client(client_id: str):
    """A paho MQTT v3.1.1 client configured for our broker (not yet connected)."""
    import paho.mqtt.client as paho

    conf = broker()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    if conf["username"]:
        client.username_pw_set(conf["username"], conf["password"])
    if conf["tls"]:
        client.tls_set()
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client, conf
