"""A simulated Hummingbot instance on the real MQTT broker, and a raw recorder of MQTT traffic.

`SimInstance` speaks the wire format of Hummingbot's MQTT bridge (hummingbot/remote_iface) as the
real client does, quirks included, so that code tested against it works against Hummingbot:

- client id `hbot.<instance_id>`; on every (re)connect it subscribes to its command topics (QoS 1)
  and `/external/event/#` (QoS 0), then publishes availability "online" on `/status_updates` and
  a heartbeat `{"ts": <µs>}` on `/hb`, then one heartbeat every `heartbeat_seconds`;
- payloads are compact JSON with "/" escaped (ujson), Decimals as floats, negative integers as
  strings (the client's primitive conversion: a notification's `"timestamp": -1` arrives as "-1");
- commands answer on `header.reply_to` at QoS 1 in the commlib envelope; no answer without a
  reply_to, and none when the request fails validation (a missing or wrongly typed field);
- events carry enums as `str(enum)`: `"trade_type": "TradeType.BUY"`, `"order_type":
  "OrderType.LIMIT"`; the event timestamp is whole seconds; trade fees are `TradeFeeBase.to_json()`
  (percent and amounts as strings);
- `/stop` clears the imported strategy (a `/start` after it needs a new `/import`), `/history`
  returns trades only with `async_backend` false and only for the imported strategy file, in the
  shape of `TradeFill.to_bounty_api_json` (price and quantity as positional strings such as "100.").

Typical use::

    with SimInstance(f"sim-{uuid.uuid4().hex[:8]}", heartbeat_seconds=0.2) as sim:
        ...  # drive it with rpc_call / the bridge, then assert on sim.running, sim.executed, ...
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from hummingbot import wire

ALREADY_RUNNING = 'The bot is already running - please run "stop" first'
NOTHING_IMPORTED = "Strategy check: Please import or create a strategy."
NOT_RUNNING = "No strategy is currently running!"
EMPTY_STRATEGY = "Empty strategy_name given!"

DEFAULT_STRATEGY = {
    "strategy": "pure_market_making",
    "exchange": "binance_paper_trade",
    "market": "BTC-USDT",
    "bid_spread": 1.0,
    "ask_spread": 1.0,
    "order_amount": 0.01,
    "order_refresh_time": 30.0,
    "inventory_skew_enabled": False,
    "price_ceiling": -1.0,
    "price_floor": -1.0,
}

REQUIRED = object()
# The request models of hummingbot/remote_iface/messages.py: field -> (type, default).
REQUESTS: dict[str, dict[str, tuple[str, Any]]] = {
    "start": {
        "log_level": ("str", None),
        "script": ("str", None),
        "conf": ("str", None),
        "is_quickstart": ("bool", False),
        "async_backend": ("bool", True),
    },
    "stop": {"skip_order_cancellation": ("bool", False), "async_backend": ("bool", True)},
    "config": {"params": ("pairs", [])},
    "import": {"strategy": ("str", REQUIRED)},
    "status": {"async_backend": ("bool", True)},
    "history": {
        "days": ("float", 0.0),
        "verbose": ("bool", False),
        "precision": ("int", None),
        "async_backend": ("bool", True),
    },
    "balance/limit": {"exchange": ("str", REQUIRED), "asset": ("str", REQUIRED), "amount": ("float", REQUIRED)},
    "balance/paper": {"asset": ("str", REQUIRED), "amount": ("float", REQUIRED)},
}
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


# -- the client's serialisation ---------------------------------------------------------------------
def primitive(value: Any) -> Any:
    """The client's conversion before JSON: Decimals and floats to float, non-negative ints stay,
    negative ints and unknown types become strings."""
    if isinstance(value, dict):
        return {key: primitive(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [primitive(item) for item in value]
    if isinstance(value, Decimal | float):
        return float(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if value >= 0 else str(value)
    return str(value)


def dumps(payload: Any) -> bytes:
    """JSON as ujson writes it: compact, ASCII only, forward slashes escaped."""
    return json.dumps(primitive(payload), separators=(",", ":")).replace("/", "\\/").encode()


def positional(value: Any) -> str:
    """A number as numpy.format_float_positional writes it: shortest digits, never an exponent,
    a bare trailing point for whole numbers ("100.", "0.5")."""
    text = format(Decimal(repr(float(value))), "f")
    if "." not in text:
        return text + "."
    return text.rstrip("0")


def _coerce(kind: str, value: Any) -> Any:
    """Pydantic's lax validation for the field types the request models use."""
    if kind == "str":
        if isinstance(value, str):
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
    elif kind == "float":
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind == "int":
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif kind == "pairs":
        if isinstance(value, list) and all(
            isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in value
        ):
            return [tuple(pair) for pair in value]
    raise ValueError(f"Input should be a valid {kind}: {value!r}")


def validate(command: str, data: Any) -> dict[str, Any]:
    """The request as the instance's model would build it, or ValueError (then: no answer)."""
    if not isinstance(data, dict):
        raise ValueError(f"data must be an object, not {type(data).__name__}")
    request: dict[str, Any] = {}
    for name, (kind, default) in REQUESTS[command].items():
        if name not in data:
            if default is REQUIRED:
                raise ValueError(f"{name}: Field required")
            request[name] = copy.copy(default)
        elif data[name] is None and default is not REQUIRED:
            request[name] = None
        else:
            request[name] = _coerce(kind, data[name])
    return request


class SimInstance:
    """One simulated Hummingbot client. Connect with `connect()` or `with SimInstance(...) as sim`.

    Strategy files: with `strategies` ({file stem: config dict}) or `conf_dir` (a folder of
    `<stem>.yml`), `/import` only finds those files and `/config` only knows their keys (and
    `<mode>.<key>` inside a mode); with neither, any name imports a default pure_market_making
    config and `/config` takes any strategy key. `/config` updates are kept per file, as Hummingbot
    writes them back; `changes` echoes the values as sent, the config shows them parsed.

    Fault injection: `drop_answers` (drop the next n answers; -1 drops all),
    `drop_command_answers[command]` (drop the next n answers to that command), `answer_raw`
    (answer with these bytes instead of the envelope), `answer_twice`,
    `deliver_twice` (handle every command message twice, as a broker redelivery would),
    `answer_delay` (seconds), `refuse_idle_stop` (answer a `/stop` with nothing running with 400,
    where Hummingbot answers 200), `tcp_nodelay` (Hummingbot leaves Nagle's algorithm on, which
    costs an RPC about 40 ms per hop that waits for a delayed ACK; turn it on to measure our side).

    Counters: `received[command]` (messages on the topic), `executed[command]` (requests that
    passed validation and ran), `rejected[command]` (failed validation), `answered[command]`,
    `dropped[command]`, `starts`/`stops` (strategy actually started/stopped), `requests` (every
    executed (command, request) pair).
    """

    def __init__(
        self,
        instance_id: str,
        namespace: str = "hbot",
        *,
        heartbeat_seconds: float = 10.0,
        strategies: dict[str, dict[str, Any]] | None = None,
        conf_dir: str | Path | None = None,
        connector: str = "binance_paper_trade",
        refuse_idle_stop: bool = False,
        tcp_nodelay: bool = False,
        connect_timeout: float = 5.0,
    ) -> None:
        self.instance_id = instance_id
        self.namespace = namespace
        self.prefix = f"{namespace}/{instance_id}"
        self.heartbeat_seconds = heartbeat_seconds
        self.connector = connector
        self.refuse_idle_stop = refuse_idle_stop
        self.tcp_nodelay = tcp_nodelay
        self.connect_timeout = connect_timeout
        self.conf_dir = Path(conf_dir) if conf_dir is not None else None
        self._files: dict[str, dict[str, Any]] | None = (
            {stem: dict(conf) for stem, conf in strategies.items()} if strategies is not None else None
        )
        self._saved: dict[str, dict[str, Any]] = {}

        self.init_time = time.time()
        self.strategy_file: str | None = None  # "<stem>.yml" as imported
        self.strategy_name: str | None = None
        self.params: dict[str, Any] = {}
        self.running = False
        self.started_at: float | None = None
        self.client_config: dict[str, Any] = {
            "instance_id": instance_id,
            "log_level": "INFO",
            "kill_switch_mode": {},
            "mqtt_bridge": {"mqtt_namespace": namespace, "mqtt_commands": True, "mqtt_events": True},
            "paper_trade": {"paper_trade_account_balance": {"BTC": 1.0, "USDT": 1000.0}},
            "balance_asset_limit": {},
        }
        self.trades: list[dict[str, Any]] = []
        self.external_events: list[tuple[str, Any]] = []

        self.received: Counter[str] = Counter()
        self.executed: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.starts = 0
        self.stops = 0
        self.requests: list[tuple[str, dict[str, Any]]] = []

        self.drop_answers = 0
        self.drop_command_answers: Counter[str] = Counter()
        self.answer_raw: bytes | None = None
        self.answer_twice = False
        self.deliver_twice = False
        self.answer_delay = 0.0

        self._lock = threading.RLock()
        self._client = None
        self._connected = threading.Event()
        self._sub_mid: int | None = None
        self._hb_paused = False
        self._hb_kick = threading.Event()
        self._hb_stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []
        self.connects = 0

    # -- lifecycle ----------------------------------------------------------------------------------
    @property
    def paper_balances(self) -> dict[str, float]:
        return self.client_config["paper_trade"]["paper_trade_account_balance"]

    @property
    def balance_limits(self) -> dict[str, dict[str, float]]:
        return self.client_config["balance_asset_limit"]

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def topic(self, suffix: str) -> str:
        return wire.topic(self.namespace, self.instance_id, suffix)

    def connect(self) -> SimInstance:
        """Connect (again, after `disconnect` or `go_silent`) and wait until commands are served."""
        if self._client is not None:
            raise RuntimeError(f"{self.prefix} is already connected")
        client, conf = wire.mqtt_client(f"hbot.{self.instance_id}")
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        if self.tcp_nodelay:
            client.on_socket_open = _no_delay
        client.connect(conf["host"], conf["port"], keepalive=60)
        self._client = client
        client.loop_start()
        self._hb_stop.clear()
        self._hb_thread = threading.Thread(target=self._heartbeats, name=f"sim-hb-{self.instance_id}", daemon=True)
        self._hb_thread.start()
        if not self._connected.wait(self.connect_timeout):
            self.go_silent()
            raise RuntimeError(f"{self.prefix} could not connect to the broker")
        return self

    def disconnect(self) -> None:
        """A clean shutdown: "offline" availability (best effort, as Hummingbot does), then DISCONNECT."""
        client = self._client
        if client is None:
            return
        self._stop_threads()
        if self._connected.is_set():
            info = client.publish(self.topic("status_updates"), self._status_payload("offline", "availability"))
            info.wait_for_publish(timeout=1)
        client.disconnect()
        client.loop_stop()
        self._client = None
        self._connected.clear()

    def go_silent(self) -> None:
        """Stop everything without a DISCONNECT, as a crashed process or a cut cable would: no more
        heartbeats or answers, and the broker sees the connection drop."""
        client = self._client
        if client is None:
            return
        self._stop_threads()
        client.on_message = None
        # loop_stop() alone waits out paho's 1 s select; flag the thread to end, then wake it by
        # shutting the socket (a FIN, not an MQTT DISCONNECT).
        client._thread_terminate = True
        sock = client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        client.loop_stop()
        if sock is not None:
            sock.close()
        self._client = None
        self._connected.clear()

    def close(self) -> None:
        self.disconnect()

    def __enter__(self) -> SimInstance:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    def pause_heartbeats(self) -> None:
        self._hb_paused = True

    def resume_heartbeats(self) -> None:
        """Heartbeats again, the first one at once."""
        self._hb_paused = False
        self._hb_kick.set()

    def wait_connected(self, timeout: float = 5.0) -> bool:
        return self._connected.wait(timeout)

    def _stop_threads(self) -> None:
        self._hb_stop.set()
        self._hb_kick.set()
        if self._hb_thread is not None and self._hb_thread is not threading.current_thread():
            self._hb_thread.join(timeout=5)
        self._hb_thread = None
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
            timer.join(timeout=5)

    # -- paho callbacks (network thread) ------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            return
        subscriptions = [(self.topic(command), 1) for command in wire.COMMANDS]
        subscriptions.append((self.topic("external/event/#"), 0))
        _, self._sub_mid = client.subscribe(subscriptions)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None) -> None:
        if mid != self._sub_mid:
            return
        self.connects += 1
        client.publish(self.topic("status_updates"), self._status_payload("online", "availability"))
        self._connected.set()
        self._hb_kick.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        self._connected.clear()

    def _on_message(self, client, userdata, message) -> None:
        suffix = message.topic[len(self.prefix) + 1 :]
        if suffix.startswith("external/event/"):
            try:
                payload = json.loads(message.payload)
            except ValueError:
                return
            with self._lock:
                self.external_events.append((suffix.removeprefix("external/event/").replace("/", "."), payload))
            return
        if suffix not in REQUESTS:
            return
        with self._lock:
            self.received[suffix] += 1
        for _ in range(2 if self.deliver_twice else 1):
            self._serve(suffix, message.payload)

    def _heartbeats(self) -> None:
        while not self._hb_stop.is_set():
            self._hb_kick.wait(self.heartbeat_seconds)
            self._hb_kick.clear()
            if self._hb_stop.is_set():
                break
            if self._connected.is_set() and not self._hb_paused:
                self.heartbeat()

    # -- RPC ----------------------------------------------------------------------------------------
    def _serve(self, command: str, raw: bytes) -> None:
        try:
            payload = json.loads(raw)
        except ValueError:
            return  # Hummingbot drops what is not JSON before dispatching it
        header = payload.get("header", {}) if isinstance(payload, dict) else {}
        data = payload.get("data", {}) if isinstance(payload, dict) else {}
        reply_to = header.get("reply_to") if isinstance(header, dict) else None
        try:
            request = validate(command, data or {})
        except ValueError as exc:
            with self._lock:
                self.rejected[command] += 1
            self.log(f"Error processing MQTT command {self.topic(command)}: {exc}", "ERROR")
            return
        with self._lock:
            self.executed[command] += 1
            self.requests.append((command, request))
            response = getattr(self, "_cmd_" + command.replace("/", "_"))(request)
        if reply_to:
            self._answer(command, reply_to, response)

    def _answer(self, command: str, reply_to: str, response: dict[str, Any]) -> None:
        with self._lock:
            if self.drop_answers or self.drop_command_answers[command] > 0:
                if self.drop_command_answers[command] > 0:
                    self.drop_command_answers[command] -= 1
                elif self.drop_answers > 0:
                    self.drop_answers -= 1
                self.dropped[command] += 1
                return
            self.answered[command] += 1
        header = {
            "reply_to": "",
            "timestamp": int(time.time() * 1000),
            "content_type": "json",
            "encoding": "utf8",
            "agent": "commlib",
        }
        body = self.answer_raw if self.answer_raw is not None else dumps({"header": header, "data": response})

        def send() -> None:
            client = self._client
            if client is None:
                return
            for _ in range(2 if self.answer_twice else 1):
                client.publish(reply_to, body, qos=1)

        if self.answer_delay > 0:
            timer = threading.Timer(self.answer_delay, send)
            timer.daemon = True
            with self._lock:
                self._timers.append(timer)
            timer.start()
        else:
            send()

    @staticmethod
    def _response(status: int = wire.OK, msg: str = "", **fields: Any) -> dict[str, Any]:
        return {**fields, "status": status, "msg": msg}

    def _cmd_start(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.strategy_name is None and request["script"] is None:
            return self._response(wire.ERROR, NOTHING_IMPORTED)
        if self.running:
            return self._response(wire.ERROR, ALREADY_RUNNING)
        if request["script"] is not None:
            self.strategy_name = request["script"]
        self.running = True
        self.started_at = time.time()
        self.starts += 1
        self.notify(f"\nStatus check complete. Starting '{self.strategy_name}' strategy...")
        return self._response()

    def _cmd_stop(self, request: dict[str, Any]) -> dict[str, Any]:
        if not self.running and self.refuse_idle_stop:
            return self._response(wire.ERROR, NOT_RUNNING)
        if self.running:
            self.stops += 1
        self.notify("\nWinding down...")
        self.running = False
        self.started_at = None
        self.strategy_file = self.strategy_name = None
        self.params = {}
        self.notify("Hummingbot stopped.")
        return self._response()

    def _cmd_import(self, request: dict[str, Any]) -> dict[str, Any]:
        stem = request["strategy"]
        if stem == "":
            return self._response(wire.ERROR, EMPTY_STRATEGY)
        file_name = f"{stem}.yml"
        conf = self._read_strategy_file(stem)
        if conf is None:
            message = f"[Errno 2] No such file or directory: 'conf/strategies/{file_name}'"
            self.notify(f"Strategy import error: {message}")
            return self._response(wire.ERROR, message)
        self.strategy_file = file_name
        self.strategy_name = str(conf.get("strategy", ""))
        self.params = conf
        self.notify(f"Configuration from {file_name} file is imported.")
        return self._response()

    def _read_strategy_file(self, stem: str) -> dict[str, Any] | None:
        if stem in self._saved:
            return copy.deepcopy(self._saved[stem])
        if self._files is not None:
            return copy.deepcopy(self._files[stem]) if stem in self._files else None
        if self.conf_dir is not None:
            path = self.conf_dir / f"{stem}.yml"
            if not path.is_file():
                return None
            return dict(yaml.safe_load(path.read_text()) or {})
        return dict(DEFAULT_STRATEGY, exchange=self.connector)

    def _cmd_config(self, request: dict[str, Any]) -> dict[str, Any]:
        params = request["params"] or []
        if not params:
            self.notify(f"\nGlobal Configurations:\n{self.client_config}\n\nStrategy Configurations:\n{self.params}")
        # Without real strategy files (the default config) any strategy key is accepted.
        lenient = self._files is None and self.conf_dir is None and self.strategy_file is not None
        changes, invalid = [], []
        for key, value in params:
            client = key.partition(".")[0] in self.client_config
            target = self.client_config if client else self.params
            if key != "strategy" and _set_key(target, key, value, lenient and not client):
                changes.append((key, value))  # Hummingbot echoes the values as sent
            else:
                invalid.append(key)
        if changes and self.strategy_file:
            self._saved[self.strategy_file.removesuffix(".yml")] = copy.deepcopy(self.params)
        if invalid:
            return self._response(wire.ERROR, f"Invalid param key(s): {invalid}", changes=changes, config={})
        config = {"client": copy.deepcopy(self.client_config), "strategy": copy.deepcopy(self.params)}
        return self._response(changes=changes, config=config)

    def _cmd_status(self, request: dict[str, Any]) -> dict[str, Any]:
        if not self.running:
            return self._response(wire.ERROR, NOT_RUNNING, data="")
        text = self.status_text()
        if request["async_backend"]:
            self.notify(text)
            return self._response(data="")
        return self._response(msg=text, data="")

    def status_text(self) -> str:
        paper = "\n  Paper Trading Active: All orders are simulated, and no real orders are placed."
        header = paper if self.connector.endswith("paper_trade") else ""
        return f"{header}\n  Strategy: {self.strategy_name}\n  Market: {self.params.get('market', '')}"

    def _cmd_history(self, request: dict[str, Any]) -> dict[str, Any]:
        if request["async_backend"]:
            self.notify(f"\nStart Time: {time.ctime(self.init_time)}\nTrades: {len(self.history())}")
            return self._response(trades=[])
        return self._response(trades=self.history(days=request["days"] or 0))

    def history(self, days: float = 0) -> list[dict[str, Any]]:
        """What `/history` (async_backend false) answers: the current strategy file's trades since
        `days` ago, or since the client started."""
        if self.strategy_file is None:
            return []
        since = time.time() - days * 86400 if days > 0 else self.init_time
        return [
            trade["json"]
            for trade in self.trades
            if trade["config_file"] == self.strategy_file and trade["json"]["trade_timestamp"] >= since * 1000
        ]

    def _cmd_balance_limit(self, request: dict[str, Any]) -> dict[str, Any]:
        exchange, asset, amount = request["exchange"], request["asset"].upper(), request["amount"]
        limits = self.balance_limits.setdefault(exchange, {})
        if amount < 0:
            limits.pop(asset, None)
            self.notify(f"Limit for {asset} on {exchange} exchange removed.")
        else:
            limits[asset] = amount
            self.notify(f"Limit for {asset} on {exchange} exchange set to {amount}")
        return self._response(data=None)

    def _cmd_balance_paper(self, request: dict[str, Any]) -> dict[str, Any]:
        asset, amount = request["asset"].upper(), request["amount"]
        self.paper_balances[asset] = amount
        self.notify(f"Paper balance for {asset} token set to {amount}")
        # Hummingbot applies the balance on its event loop and answers before: data is null.
        return self._response(data=None)

    # -- streams ------------------------------------------------------------------------------------
    def publish(self, suffix: str, payload: dict[str, Any], qos: int = 0) -> None:
        client = self._client
        if client is None:
            raise RuntimeError(f"{self.prefix} is not connected")
        client.publish(self.topic(suffix), dumps(payload), qos=qos)

    def publish_raw(self, suffix: str, payload: bytes, qos: int = 0) -> None:
        """Anything at all on one of this instance's topics (garbage, truncated JSON...)."""
        client = self._client
        if client is None:
            raise RuntimeError(f"{self.prefix} is not connected")
        client.publish(self.topic(suffix), payload, qos=qos)

    def heartbeat(self) -> None:
        # Hummingbot stamps its heartbeat half a second ahead.
        self.publish("hb", {"ts": int((time.time() + 0.5) * 1_000_000)})

    def _status_payload(self, msg: str, msg_type: str) -> bytes:
        return dumps({"timestamp": int(time.time() * 1000), "type": msg_type, "msg": msg})

    def status_update(self, msg: str, msg_type: str = "hbapp") -> None:
        self.publish_raw("status_updates", self._status_payload(msg, msg_type))

    def notify(self, text: str) -> None:
        self.publish("notify", {"seq": 0, "timestamp": -1, "msg": text})

    def log(self, msg: str, level: str = "INFO", logger_name: str = "hummingbot.strategy") -> None:
        level_name = level.upper()
        level_no = logging.getLevelNamesMapping().get(level_name, 0)
        payload = {"timestamp": time.time(), "msg": msg, "level_no": level_no, "level_name": level_name}
        self.publish("log", {**payload, "logger_name": logger_name})

    def emit_event(self, event_type: str, data: dict[str, Any], *, timestamp: float | None = None) -> dict[str, Any]:
        """Publish `{"timestamp": <whole s>, "type", "data"}` on /events; returns what was sent."""
        payload = {"timestamp": int(time.time() if timestamp is None else timestamp), "type": event_type, "data": data}
        self.publish("events", payload)
        return json.loads(dumps(payload))

    def emit_order_created(
        self,
        *,
        order_id: str | None = None,
        side: str = "BUY",
        trading_pair: str = "BTC-USDT",
        order_type: str = "LIMIT",
        price: Any = 100,
        amount: Any = "0.01",
        exchange_order_id: str | None = None,
        timestamp: float | None = None,
    ) -> dict[str, Any]:
        """BuyOrderCreated / SellOrderCreated (BuyOrderCreatedEvent as a dict)."""
        ts = time.time() if timestamp is None else timestamp
        data = {
            "type": f"OrderType.{order_type.upper()}",
            "trading_pair": trading_pair,
            "amount": Decimal(str(amount)),
            "price": Decimal(str(price)),
            "order_id": order_id or _order_id(side, trading_pair),
            "creation_timestamp": float(ts),
            "exchange_order_id": exchange_order_id,
            "leverage": 1,
            "position": "NIL",
        }
        return self.emit_event(f"{side.capitalize()}OrderCreated", data, timestamp=ts)

    def emit_fill(
        self,
        *,
        order_id: str | None = None,
        side: str = "BUY",
        trading_pair: str = "BTC-USDT",
        order_type: str = "LIMIT",
        price: Any = 100,
        amount: Any = "0.01",
        fee: Any = 0,
        fee_token: str | None = None,
        fee_percent: Any = 0,
        trade_fee: dict[str, Any] | None = None,
        exchange_trade_id: str | None = None,
        exchange_order_id: str = "",
        timestamp: float | None = None,
        record: bool = True,
    ) -> dict[str, Any]:
        """OrderFilled (OrderFilledEvent as a dict). `record` also stores the trade for `/history`,
        under the imported strategy file, as Hummingbot's markets recorder does."""
        ts = time.time() if timestamp is None else timestamp
        base, _, quote = trading_pair.partition("-")
        if trade_fee is None:
            flat = [{"token": fee_token or quote, "amount": str(Decimal(str(fee)))}] if Decimal(str(fee)) else []
            trade_fee = {
                "fee_type": "AddedToCost",
                "percent": str(Decimal(str(fee_percent))),
                "percent_token": fee_token if Decimal(str(fee_percent)) else None,
                "flat_fees": flat,
            }
        order_id = order_id or _order_id(side, trading_pair)
        exchange_trade_id = exchange_trade_id or uuid.uuid4().hex[:16]
        data = {
            "order_id": order_id,
            "trading_pair": trading_pair,
            "trade_type": f"TradeType.{side.upper()}",
            "order_type": f"OrderType.{order_type.upper()}",
            "price": Decimal(str(price)),
            "amount": Decimal(str(amount)),
            "trade_fee": trade_fee,
            "exchange_trade_id": exchange_trade_id,
            "exchange_order_id": exchange_order_id,
            "leverage": 1,
            "position": "NIL",
        }
        if record:
            with self._lock:
                if self.strategy_file is not None:
                    self.trades.append(
                        {
                            "config_file": self.strategy_file,
                            "order_id": order_id,
                            "json": {
                                "market": self.connector,
                                "trade_id": exchange_trade_id,
                                "price": positional(price),
                                "quantity": positional(amount),
                                "symbol": trading_pair,
                                "trade_timestamp": int(ts * 1000),
                                "trade_type": side.upper(),
                                "base_asset": base,
                                "quote_asset": quote,
                                "raw_json": {"trade_fee": trade_fee},
                            },
                        }
                    )
        return self.emit_event("OrderFilled", data, timestamp=ts)

    def emit_order_completed(
        self,
        *,
        order_id: str,
        side: str = "BUY",
        trading_pair: str = "BTC-USDT",
        order_type: str = "LIMIT",
        base_asset_amount: Any = "0.01",
        quote_asset_amount: Any = "1",
        exchange_order_id: str | None = None,
        timestamp: float | None = None,
    ) -> dict[str, Any]:
        """BuyOrderCompleted / SellOrderCompleted."""
        base, _, quote = trading_pair.partition("-")
        data = {
            "order_id": order_id,
            "base_asset": base,
            "quote_asset": quote,
            "base_asset_amount": Decimal(str(base_asset_amount)),
            "quote_asset_amount": Decimal(str(quote_asset_amount)),
            "order_type": f"OrderType.{order_type.upper()}",
            "exchange_order_id": exchange_order_id,
        }
        return self.emit_event(f"{side.capitalize()}OrderCompleted", data, timestamp=timestamp)

    def emit_cancelled(
        self, *, order_id: str, exchange_order_id: str | None = None, timestamp: float | None = None
    ) -> dict[str, Any]:
        """OrderCancelled."""
        data = {"order_id": order_id, "exchange_order_id": exchange_order_id}
        return self.emit_event("OrderCancelled", data, timestamp=timestamp)

    def emit_failure(
        self,
        *,
        order_id: str,
        order_type: str = "LIMIT",
        error_message: str | None = None,
        timestamp: float | None = None,
    ) -> dict[str, Any]:
        """OrderFailure (MarketOrderFailureEvent)."""
        data = {
            "order_id": order_id,
            "order_type": f"OrderType.{order_type.upper()}",
            "error_message": error_message,
            "error_type": None,
        }
        return self.emit_event("OrderFailure", data, timestamp=timestamp)


def _no_delay(client, userdata, sock) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _order_id(side: str, trading_pair: str) -> str:
    # Hummingbot's client order ids look like "buy-BTC-USDT-<nonce>".
    return f"{side.lower()}-{trading_pair}-{time.time_ns() // 1000}"


def _set_key(conf: dict[str, Any], key: str, value: Any, lenient: bool = False) -> bool:
    """Set `key` (or `<mode>.<key>` inside a mode's settings) as Hummingbot's config command would;
    False for a key it does not know. A mode's title starts that mode's settings afresh."""
    head, _, sub = key.partition(".")
    if sub:
        if not isinstance(conf.get(head), dict):
            if not lenient:
                return False
            conf[head] = {}
        conf[head][sub] = _like(conf[head].get(sub), value)
        return True
    if head not in conf:
        if lenient:
            conf[head] = value
        return lenient
    if isinstance(conf[head], dict):
        conf[head] = {}
        return True
    conf[head] = _like(conf[head], value)
    return True


def _like(current: Any, value: Any) -> Any:
    """A config value parsed to the type of the value it replaces, as Hummingbot's validators do."""
    if isinstance(value, str) and not isinstance(current, str):
        if isinstance(current, bool):
            return value.lower() in _TRUE
        if isinstance(current, int | float):
            try:
                return type(current)(float(value)) if isinstance(current, float) else int(value)
            except ValueError:
                return value
    return value


Message = tuple[str, bytes, int, bool]  # topic, payload, QoS, retain


class MqttRecorder:
    """A raw paho subscriber that keeps every message on `topics`, with its QoS and retain flag.
    Use as a context manager; `wait_for(predicate)` returns the first matching message."""

    def __init__(self, topics: Iterable[str], *, qos: int = 1, timeout: float = 5.0) -> None:
        self.topics = list(topics)
        self.qos = qos
        self.timeout = timeout
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._client = None
        self._mid: int | None = None

    def __enter__(self) -> MqttRecorder:
        client, conf = wire.mqtt_client(f"recorder-{uuid.uuid4().hex[:12]}")
        client.on_connect = lambda c, *args: self._subscribe(c)
        client.on_subscribe = lambda c, u, mid, *args: self._ready.set() if mid == self._mid else None
        client.on_message = self._on_message
        self._client = client
        client.connect(conf["host"], conf["port"], keepalive=30)
        client.loop_start()
        if not self._ready.wait(self.timeout):
            self.__exit__()
            raise RuntimeError("the recorder could not subscribe")
        return self

    def _subscribe(self, client) -> None:
        _, self._mid = client.subscribe([(topic, self.qos) for topic in self.topics])

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_message(self, client, userdata, message) -> None:
        with self._cond:
            self.messages.append((message.topic, message.payload, message.qos, bool(message.retain)))
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self._client.publish(topic, payload, qos=qos).wait_for_publish(timeout=self.timeout)

    def wait_for(
        self, predicate: Callable[[Message], bool] = lambda m: True, *, timeout: float | None = None
    ) -> Message:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._cond:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message on {self.topics} (got {len(self.messages)})")
                self._cond.wait(left)

    def wait_count(self, predicate: Callable[[Message], bool], count: int, *, timeout: float = 5.0):
        """Wait until `count` messages match; returns them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if predicate(m)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} messages on {self.topics}")
                self._cond.wait(left)

    def on(self, suffix: str) -> list[Any]:
        """Decoded payloads received so far on topics ending with `/<suffix>`."""
        with self._cond:
            return [json.loads(p) for t, p, _, _ in self.messages if t.endswith("/" + suffix)]
