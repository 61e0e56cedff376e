"""The simulated Hummingbot instance speaks the client's wire format, seen by a raw MQTT subscriber."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from hummingbot import wire
from tests.hummingbot.sim import ALREADY_RUNNING, NOTHING_IMPORTED, MqttRecorder, SimInstance, positional

HEADER_KEYS = ["reply_to", "timestamp", "content_type", "encoding", "agent"]


@pytest.fixture(autouse=True)
def no_leftover_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3
    while (extra := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not extra, f"threads left running: {extra}"


def new_id() -> str:
    return f"sim-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sim():
    instance = SimInstance(new_id(), heartbeat_seconds=0.2)
    with MqttRecorder([f"{instance.prefix}/#", f"{instance.instance_id}/replies/#"], qos=1) as recorder:
        instance.recorder = recorder
        instance.connect()
        try:
            yield instance
        finally:
            instance.disconnect()


def on(suffix: str):
    return lambda message: message[0].endswith("/" + suffix)


def ask(recorder: MqttRecorder, sim: SimInstance, command: str, data: dict, *, qos: int = 1) -> str:
    """Publish a raw request with a fresh reply topic (under `<instance id>/replies/`); returns it."""
    reply_to = wire.reply_topic(sim.instance_id)
    recorder.publish(sim.topic(command), wire.request(data, reply_to=reply_to, agent="test"), qos=qos)
    return reply_to


def answer(sim: SimInstance, reply_to: str) -> dict:
    return json.loads(sim.recorder.wait_for(lambda m: m[0] == reply_to)[1])["data"]


def test_it_announces_itself_online_then_beats_at_its_interval(sim):
    online = sim.recorder.wait_for(on("status_updates"))
    beats = sim.recorder.wait_count(on("hb"), 3)
    assert online[2] == 0 and online[3] is False
    payload = json.loads(online[1])
    assert list(payload) == ["timestamp", "type", "msg"]
    assert payload["type"] == "availability" and payload["msg"] == "online"
    assert abs(payload["timestamp"] - time.time() * 1000) < 5000
    assert sim.recorder.messages.index(online) < sim.recorder.messages.index(beats[0])
    stamps = [json.loads(p)["ts"] for _, p, _, _ in beats]
    assert all(isinstance(ts, int) and abs(ts / 1e6 - time.time()) < 5 for ts in stamps)
    assert 0.1e6 < stamps[2] - stamps[1] < 0.5e6
    assert all(qos == 0 for _, _, qos, _ in beats)


def test_it_announces_online_again_after_a_reconnect(sim):
    sim.recorder.wait_for(on("status_updates"))
    sim.go_silent()
    time.sleep(0.4)
    beats = len(sim.recorder.wait_count(on("hb"), 1))
    time.sleep(0.5)
    assert len([m for m in sim.recorder.messages if on("hb")(m)]) == beats, "a silent instance does not beat"
    sim.connect()
    onlines = sim.recorder.wait_count(on("status_updates"), 2)
    assert [json.loads(p)["msg"] for _, p, _, _ in onlines] == ["online", "online"]
    assert sim.connects == 2


def test_heartbeats_pause_and_resume(sim):
    sim.recorder.wait_count(on("hb"), 1)
    sim.pause_heartbeats()
    time.sleep(0.3)
    count = len([m for m in sim.recorder.messages if on("hb")(m)])
    time.sleep(0.5)
    assert len([m for m in sim.recorder.messages if on("hb")(m)]) == count
    sim.resume_heartbeats()
    sim.recorder.wait_count(on("hb"), count + 1, timeout=1)


def test_a_clean_disconnect_says_offline(sim):
    sim.recorder.wait_for(on("status_updates"))
    sim.disconnect()
    offline = sim.recorder.wait_count(on("status_updates"), 2)[1]
    assert json.loads(offline[1])["msg"] == "offline"


def test_it_answers_on_reply_to_at_qos_1_in_the_commlib_envelope(sim):
    reply_to = ask(sim.recorder, sim, "start", {"async_backend": True})
    _, raw, qos, retain = sim.recorder.wait_for(lambda m: m[0] == reply_to)
    assert qos == 1 and retain is False
    assert b" " not in raw.replace(NOTHING_IMPORTED.encode(), b""), "compact JSON, as ujson writes it"
    answer = json.loads(raw)
    assert list(answer) == ["header", "data"]
    assert list(answer["header"]) == HEADER_KEYS
    assert answer["header"]["reply_to"] == ""
    assert answer["header"]["agent"] == "commlib"
    assert (answer["header"]["content_type"], answer["header"]["encoding"]) == ("json", "utf8")
    assert answer["data"] == {"status": 400, "msg": NOTHING_IMPORTED}
    assert sim.received["start"] == 1 and sim.answered["start"] == 1


def test_it_subscribes_to_commands_at_qos_1(sim):
    # A QoS 1 request reaches a QoS 1 subscription; the instance's PUBACK makes it count once.
    reply_to = ask(sim.recorder, sim, "import", {"strategy": "conf_pmm_1"})
    assert answer(sim, reply_to) == {"status": 200, "msg": ""}
    assert sim.strategy_file == "conf_pmm_1.yml" and sim.strategy_name == "pure_market_making"


def test_a_request_without_reply_to_runs_but_gets_no_answer(sim):
    sim.recorder.publish(sim.topic("import"), wire.request({"strategy": "conf_x"}, reply_to=""))
    deadline = time.monotonic() + 2
    while not sim.executed["import"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.executed["import"] == 1 and sim.answered["import"] == 0
    assert sim.strategy_file == "conf_x.yml"


@pytest.mark.parametrize(
    ("command", "data"),
    [
        ("import", {}),
        ("import", {"strategy": 12}),
        ("balance/paper", {"asset": "BTC"}),
        ("balance/paper", {"asset": "BTC", "amount": "lots"}),
        ("history", {"days": "yesterday"}),
        ("config", {"params": "bid_spread=1"}),
    ],
)
def test_a_request_failing_validation_gets_no_answer(sim, command, data):
    reply_to = ask(sim.recorder, sim, command, data)
    log = sim.recorder.wait_for(on("log"))
    assert json.loads(log[1])["level_name"] == "ERROR"
    time.sleep(0.2)
    assert not [m for m in sim.recorder.messages if m[0] == reply_to]
    assert (sim.received[command], sim.rejected[command], sim.executed[command]) == (1, 1, 0)


def test_unknown_fields_are_ignored_and_lax_types_accepted(sim):
    reply_to = ask(sim.recorder, sim, "balance/paper", {"asset": "eth", "amount": "2.5", "extra": [1]})
    assert answer(sim, reply_to) == {"data": None, "status": 200, "msg": ""}
    assert sim.paper_balances["ETH"] == 2.5


def test_garbage_on_a_command_topic_is_dropped(sim):
    sim.recorder.publish(sim.topic("start"), b"\xff not json")
    deadline = time.monotonic() + 2
    while not sim.received["start"] and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert sim.received["start"] == 1 and sim.executed["start"] == 0 and sim.rejected["start"] == 0


def test_a_second_start_is_refused_as_already_running(sim):
    first = ask(sim.recorder, sim, "start", {"script": "v2_with_controllers"})
    second = ask(sim.recorder, sim, "start", {"script": "v2_with_controllers"})
    assert [answer(sim, first), answer(sim, second)] == [
        {"status": 200, "msg": ""},
        {"status": 400, "msg": ALREADY_RUNNING},
    ]
    assert sim.starts == 1 and sim.running


def test_fills_carry_floats_enum_strings_and_whole_second_timestamps(sim):
    sent = sim.emit_fill(
        order_id="buy-BTC-USDT-1",
        side="BUY",
        price="64123.5",
        amount="0.015",
        fee="0.05",
        exchange_trade_id="T-1",
        timestamp=1_700_000_000.75,
    )
    _, raw, qos, _ = sim.recorder.wait_for(on("events"))
    event = json.loads(raw)
    assert event == sent
    assert qos == 0
    assert list(event) == ["timestamp", "type", "data"]
    assert event["timestamp"] == 1_700_000_000
    assert event["type"] == "OrderFilled"
    data = event["data"]
    assert "timestamp" not in data
    assert data["trade_type"] == "TradeType.BUY" and data["order_type"] == "OrderType.LIMIT"
    assert data["price"] == 64123.5 and isinstance(data["amount"], float) and data["amount"] == 0.015
    assert data["exchange_trade_id"] == "T-1" and data["order_id"] == "buy-BTC-USDT-1"
    assert data["trading_pair"] == "BTC-USDT"
    assert data["trade_fee"] == {
        "fee_type": "AddedToCost",
        "percent": "0",
        "percent_token": None,
        "flat_fees": [{"token": "USDT", "amount": "0.05"}],
    }
    assert (data["exchange_order_id"], data["leverage"], data["position"]) == ("", 1, "NIL")


def test_order_lifecycle_events(sim):
    created = sim.emit_order_created(order_id="sell-1", side="SELL", price=101, amount="0.5", timestamp=1_700_000_001)
    completed = sim.emit_order_completed(
        order_id="sell-1", side="SELL", base_asset_amount="0.5", quote_asset_amount=50.5
    )
    cancelled = sim.emit_cancelled(order_id="buy-2")
    failed = sim.emit_failure(order_id="buy-3", error_message="insufficient funds")
    events = [json.loads(p) for _, p, _, _ in sim.recorder.wait_count(on("events"), 4)]
    assert [e["type"] for e in events] == ["SellOrderCreated", "SellOrderCompleted", "OrderCancelled", "OrderFailure"]
    assert events == [created, completed, cancelled, failed]
    assert created["data"]["type"] == "OrderType.LIMIT"
    assert created["data"]["creation_timestamp"] == 1_700_000_001.0
    assert created["data"]["price"] == 101.0 and created["data"]["exchange_order_id"] is None
    assert completed["data"]["base_asset"] == "BTC" and completed["data"]["quote_asset_amount"] == 50.5
    assert completed["data"]["order_type"] == "OrderType.LIMIT"
    assert cancelled["data"] == {"order_id": "buy-2", "exchange_order_id": None}
    assert failed["data"]["order_type"] == "OrderType.LIMIT" and failed["data"]["error_type"] is None


def test_notifications_and_logs(sim):
    sim.notify("Paper balance set: see /balance")
    sim.log("Strategy started", "warning")
    _, raw, _, _ = sim.recorder.wait_for(on("notify"))
    assert b"\\/balance" in raw, "ujson escapes forward slashes"
    # The client's primitive conversion turns the negative default timestamp into a string.
    assert json.loads(raw) == {"seq": 0, "timestamp": "-1", "msg": "Paper balance set: see /balance"}
    log = json.loads(sim.recorder.wait_for(on("log"))[1])
    assert list(log) == ["timestamp", "msg", "level_no", "level_name", "logger_name"]
    assert isinstance(log["timestamp"], float)
    assert (log["level_no"], log["level_name"]) == (30, "WARNING")


def test_publish_raw_sends_the_bytes_as_they_are(sim):
    sim.publish_raw("events", b'{"timestamp": 1, "type": "OrderFilled", "data": ')
    assert sim.recorder.wait_for(on("events"))[1] == b'{"timestamp": 1, "type": "OrderFilled", "data": '


def test_history_trades_look_like_hummingbot_trade_fills(sim):
    answer(sim, ask(sim.recorder, sim, "import", {"strategy": "conf_pmm_7"}))
    sim.emit_fill(order_id="buy-1", price=100, amount="0.01", exchange_trade_id="T-9", timestamp=time.time())
    reply_to = ask(sim.recorder, sim, "history", {"async_backend": False})
    (trade,) = answer(sim, reply_to)["trades"]
    assert trade["trade_id"] == "T-9" and trade["symbol"] == "BTC-USDT" and trade["trade_type"] == "BUY"
    assert (trade["price"], trade["quantity"]) == ("100.", "0.01")
    assert trade["market"] == "binance_paper_trade" and isinstance(trade["trade_timestamp"], int)
    assert trade["raw_json"]["trade_fee"]["fee_type"] == "AddedToCost"
    assert answer(sim, ask(sim.recorder, sim, "history", {}))["trades"] == []


def test_positional_numbers_match_numpy():
    assert [positional(v) for v in (100, 100.0, "0.5", 0.1 + 0.2, 1e-7, 64123.5)] == [
        "100.",
        "100.",
        "0.5",
        "0.30000000000000004",
        "0.0000001",
        "64123.5",
    ]


def test_two_instances_with_their_own_topics(sim):
    other = SimInstance(new_id(), namespace="beta", heartbeat_seconds=0.2)
    with other:
        answer(sim, ask(sim.recorder, sim, "import", {"strategy": "mine"}))
        time.sleep(0.1)
        assert other.received.total() == 0 and other.strategy_file is None
