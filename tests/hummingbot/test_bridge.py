"""The bridge's write path: heartbeats, order events and fills (deduplicated, out of order,
mapped to the right organization's bot), notices and logs, garbage skipped; and, over the real
Mosquitto, ingestion and resubscription after a broker restart."""

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from decimal import Decimal

import paho.mqtt.client as paho
import pytest

from bots.models import BotEvent, Fill, Order, OrderStatus, Position
from hummingbot.bridge import Bridge
from hummingbot.models import DeploymentStatus, HummingbotDeployment, HummingbotInstance, InstanceStatus
from tests.factories import BotFactory, ExchangeAccountFactory

pytestmark = pytest.mark.django_db
MOSQUITTO = shutil.which("mosquitto")


def make_instance(org, *, name=None, status=InstanceStatus.UNKNOWN, capacity=1, with_bot=True, policy="pause"):
    instance = HummingbotInstance.objects.create(
        organization=org,
        name=name or f"hb-{uuid.uuid4().hex[:6]}",
        instance_id=f"i{uuid.uuid4().hex[:10]}",
        status=status,
        capacity=capacity,
    )
    if with_bot:
        account = ExchangeAccountFactory(organization=org, exchange="paper")
        bot = BotFactory(
            organization=org,
            exchange_account=account,
            strategy="pure_market_making",
            execution="hummingbot",
            failover_policy=policy,
            symbol="BTC/USDT",
        )
        HummingbotDeployment.objects.create(
            organization=org,
            bot=bot,
            instance=instance,
            strategy_name="pure_market_making",
            config_file=f"conf_pmm_{bot.pk}.yml",
            rendered_config="strategy: pure_market_making\n",
            status=DeploymentStatus.RUNNING,
        )
    return instance


def msg(instance, stream, payload, *, raw=False):
    body = payload if raw else json.dumps(payload).encode()
    return (f"{instance.namespace}/{instance.instance_id}/{stream}", body, time.time())


def event(instance, kind, **data):
    return msg(instance, "events", {"timestamp": time.time(), "type": kind, "data": data})


def fill(instance, order_id, amount, price, trade_id, side="BUY"):
    """An OrderFilled event as the client serialises it: floats, enums as "TradeType.BUY"."""
    return event(
        instance,
        "OrderFilled",
        order_id=order_id,
        trading_pair="BTC-USDT",
        trade_type=f"TradeType.{side}",
        order_type="OrderType.LIMIT",
        price=price,
        amount=amount,
        trade_fee={"fee_type": "AddedToCost", "percent": "0.001", "percent_token": "USDT", "flat_fees": []},
        exchange_trade_id=trade_id,
        exchange_order_id=f"x-{order_id}",
        leverage=1,
        position="NIL",
    )


def bot_of(instance):
    return instance.deployments.get().bot


def test_heartbeat_marks_the_instance_online_once(org_a):
    instance = make_instance(org_a)
    bridge = Bridge()
    bridge.process([msg(instance, "hb", {"ts": time.time() * 1e6})])
    bridge.process([msg(instance, "hb", {"ts": time.time() * 1e6})])
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.ONLINE and instance.last_heartbeat_at is not None
    assert BotEvent.objects.filter(kind="hummingbot.instance_online").count() == 1


def test_order_events_and_fills_become_orders_fills_and_a_position(org_a):
    instance = make_instance(org_a)
    bot = bot_of(instance)
    bridge = Bridge()
    created = event(
        instance,
        "BuyOrderCreated",
        order_id="buy-BTC-USDT-1",
        trading_pair="BTC-USDT",
        type="OrderType.LIMIT",
        amount=0.01,
        price=30000.5,
        creation_timestamp=1.5,
    )
    first = fill(instance, "buy-BTC-USDT-1", 0.004, 30000.5, "t-1")
    bridge.process([created, first, first])  # the same fill twice in one batch
    bridge.process([first, fill(instance, "buy-BTC-USDT-1", 0.006, 30000.5, "t-2")])  # and again later
    bridge.process([event(instance, "BuyOrderCompleted", order_id="buy-BTC-USDT-1", trading_pair="BTC-USDT")])
    order = Order.objects.get(bot=bot)
    assert (order.status, order.amount, order.filled, order.price) == (
        OrderStatus.FILLED,
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal("30000.5"),
    )
    assert sorted(Fill.objects.filter(order=order).values_list("trade_id", flat=True)) == ["t-1", "t-2"]
    position = Position.objects.get(bot=bot)
    assert position.quantity == Decimal("0.01") and position.average_entry_price == Decimal("30000.5")
    assert Fill.objects.get(trade_id="t-1").fee == Decimal("0.1200020")  # 0.1% of 0.004 x 30000.5
    assert bridge.stats["fills"] == 2


def test_a_fill_before_its_order_and_a_late_created_event(org_a):
    instance = make_instance(org_a)
    bridge = Bridge()
    bridge.process([fill(instance, "sell-1", 0.5, 100, "x-1", side="SELL")])
    bridge.process([fill(instance, "sell-1", 0.25, 101, "x-2", side="SELL")])
    bridge.process([event(instance, "SellOrderCompleted", order_id="sell-1", trading_pair="BTC-USDT")])
    bridge.process([event(instance, "SellOrderCreated", order_id="sell-1", trading_pair="BTC-USDT", amount=0.75)])
    order = Order.objects.get(exchange_order_id="sell-1")
    assert (order.side, order.status) == ("sell", "filled")
    assert order.amount == order.filled == Decimal("0.75")


def test_garbage_is_counted_and_skipped_while_the_rest_is_written(org_a):
    instance = make_instance(org_a)
    bridge = Bridge()
    batch = [
        msg(instance, "events", b"\x00\xffnot json", raw=True),
        msg(instance, "events", b"[1, 2]", raw=True),
        msg(instance, "events", {"type": "OrderFilled"}),
        msg(instance, "hb", {"ts": "soon"}),
        fill(instance, "o-1", "lots", 100, "g-1"),
        fill(instance, "o-2", 0.1, float("nan"), "g-2"),
        event(instance, "OrderFilled", order_id="o-3", trading_pair="BTCUSDT", amount=1, price=1),
        msg(instance, "notify", {"seq": 0, "timestamp": -1}),
        ("not/a-topic", b"{}", time.time()),
        ("hbot/unknown-instance/hb", b'{"ts": 1}', time.time()),
        fill(instance, "o-4", 0.1, 100, "g-4"),  # the one good message
    ]
    bridge.process(batch)
    assert bridge.stats["malformed"] == 8
    assert bridge.stats["unknown_instance"] == 1 and bridge.stats["ignored"] == 1
    assert list(Fill.objects.values_list("trade_id", flat=True)) == ["g-4"]


def test_notices_and_warning_logs_become_events(org_a):
    instance = make_instance(org_a)
    bridge = Bridge()
    bridge.process(
        [
            msg(instance, "notify", {"seq": 0, "timestamp": -1, "msg": "Strategy started."}),
            msg(instance, "log", {"timestamp": 1.5, "msg": "quiet", "level_no": 20, "level_name": "INFO"}),
            msg(instance, "log", {"timestamp": 1, "msg": "order book stale", "level_no": 30, "level_name": "WARNING"}),
        ]
    )
    events = dict(BotEvent.objects.filter(bot=bot_of(instance)).values_list("kind", "message"))
    assert events == {"hummingbot.notify": "Strategy started.", "hummingbot.log": "order book stale"}


def test_two_organizations_never_mix(org_a, org_b):
    ours, theirs = make_instance(org_a), make_instance(org_b)
    Bridge().process([fill(ours, "same-id", 0.1, 100, "z-1"), fill(theirs, "same-id", 0.2, 100, "z-1")])
    assert Fill.objects.get(organization=org_a).amount == Decimal("0.1")
    assert Fill.objects.get(organization=org_b).amount == Decimal("0.2")
    assert Order.objects.get(organization=org_a).bot == bot_of(ours)
    assert Order.objects.get(organization=org_b).bot == bot_of(theirs)


# -- over the broker ---------------------------------------------------------------------------------
def publish(messages, port=1883):
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    for name, body, _ in messages:
        client.publish(name, body, qos=0).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def wait_for(check, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.mark.django_db(transaction=True)
def test_ingests_from_the_real_broker(org_a, running_bridge):
    instance = make_instance(org_a)
    publish([msg(instance, "hb", {"ts": time.time() * 1e6}), fill(instance, "live-1", 0.2, 50, "l-1")])
    assert wait_for(lambda: Fill.objects.filter(trade_id="l-1").exists())
    assert HummingbotInstance.objects.get(pk=instance.pk).status == InstanceStatus.ONLINE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(MOSQUITTO is None, reason="needs the mosquitto binary")
def test_resubscribes_after_a_broker_restart(org_a, settings, tmp_path):
    port = free_port()
    settings.MQTT_URL = f"mqtt://127.0.0.1:{port}"
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")

    def broker():
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 5)
        return proc

    first = broker()
    instance = make_instance(org_a)
    stop = threading.Event()
    bridge = Bridge(client_id=f"bridge-{uuid.uuid4().hex[:8]}")
    thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert bridge.connected.wait(10)
        publish([fill(instance, "r-1", 0.1, 10, "before")], port)
        assert wait_for(lambda: Fill.objects.filter(trade_id="before").exists())
        first.kill()
        first.wait()
        assert wait_for(lambda: not bridge.connected.is_set(), 5)
        second = broker()
        try:
            assert wait_for(bridge.connected.is_set, 15), "the bridge did not reconnect"
            publish([fill(instance, "r-1", 0.1, 10, "after")], port)
            assert wait_for(lambda: Fill.objects.filter(trade_id="after").exists()), "not subscribed again"
            assert bridge.stats["connects"] == 2
        finally:
            second.kill()
            second.wait()
    finally:
        stop.set()
        thread.join(10)


def test_each_organization_hears_only_about_its_own_bots(org_a, org_b, django_capture_on_commit_callbacks):
    """After the batch commits, one live update per organization on its own group."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from bots.live import group_for

    ours, theirs = make_instance(org_a), make_instance(org_b)
    layer = get_channel_layer()
    listen_a = async_to_sync(layer.new_channel)()
    listen_b = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group_for(org_a.pk), listen_a)
    async_to_sync(layer.group_add)(group_for(org_b.pk), listen_b)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            Bridge().process([fill(ours, "o-1", 0.1, 100, "lu-1")])
        # The fill's own frames (order, fill, position) come first, then the bridge's summary.
        frames = []
        while not any(f["kind"] == "hummingbot" for f in frames):
            got = async_to_sync(asyncio.wait_for)(layer.receive(listen_a), 5)
            assert got["type"] == "live.frames" and got["organization"] == org_a.pk
            frames += [json.loads(text) for text in got["frames"]]
        assert {f["organization"] for f in frames} == {org_a.pk}
        summary = next(f for f in frames if f["kind"] == "hummingbot")
        assert summary["hummingbot"] == {"instances": [ours.pk], "bots": [bot_of(ours).pk]}
        assert bot_of(theirs).pk not in summary["hummingbot"]["bots"]
        with pytest.raises(asyncio.TimeoutError):
            async_to_sync(asyncio.wait_for)(layer.receive(listen_b), 0.5)
    finally:
        async_to_sync(layer.group_discard)(group_for(org_a.pk), listen_a)
        async_to_sync(layer.group_discard)(group_for(org_b.pk), listen_b)
