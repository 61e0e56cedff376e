"""Hummingbot bridge ingestion and command round trips, on PostgreSQL and the real Mosquitto.

- msgs_per_s: messages per second one bridge process takes off the broker and writes to
  PostgreSQL, end to end: a separate publisher process sends MESSAGES messages as 20 instances
  would (heartbeats, order created / filled / completed events with unique trade ids, notices
  and warning logs); the clock runs from the first message received to the last batch
  committed. Every fill is checked in the database afterwards (`fills_written`), and messages
  the broker never delivered are counted (`dropped`).
- msgs_per_s_write: the same write path fed straight from memory (no broker): the database side
  alone.
- rpc_p50_ms / rpc_p99_ms: `/status` command round trips through the installed Mosquitto to a
  simulated instance that answers in the exact wire format and, like Hummingbot, leaves Nagle's
  algorithm on (its answers wait for delayed ACKs); `_nodelay`: the same through a broker with
  `set_tcp_nodelay true` to an instance with TCP_NODELAY.
Prints one JSON line.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid

from _django import ROOT, setup

setup()

from bots.models import Bot, BotEvent, Fill, Order, Position  # noqa: E402
from exchanges.models import ExchangeAccount  # noqa: E402
from hummingbot.bridge import Bridge  # noqa: E402
from hummingbot.models import DeploymentStatus, HummingbotDeployment, HummingbotInstance  # noqa: E402
from organizations.models import Organization  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_HB_MESSAGES", "60000"))
INSTANCES = 20
RPC_CALLS = int(os.environ.get("BENCH_HB_RPC", "300"))
RATE = float(os.environ.get("BENCH_HB_RATE", "6000"))  # messages per second the instances send
BATCH = int(os.environ.get("BENCH_HB_BATCH", "5000"))  # most messages the bridge writes per transaction


def reset() -> Organization:
    org, _ = Organization.objects.get_or_create(slug="bench-hb", defaults={"name": "Bench Hummingbot"})
    bots = Bot.objects.filter(organization=org)
    Fill.objects.filter(bot__in=bots).delete()
    Position.objects.filter(bot__in=bots).delete()
    Order.objects.filter(bot__in=bots).delete()
    BotEvent.objects.filter(organization=org).delete()
    HummingbotDeployment.objects.filter(organization=org).delete()
    HummingbotInstance.objects.filter(organization=org).delete()
    bots.delete()
    return org


def instances(org: Organization) -> list[HummingbotInstance]:
    account, _ = ExchangeAccount.objects.get_or_create(
        organization=org, label="bench-hb", defaults={"exchange": "paper", "status": "active"}
    )
    run = uuid.uuid4().hex[:6]
    out = []
    for n in range(INSTANCES):
        instance = HummingbotInstance.objects.create(
            organization=org, name=f"hb-{n}", instance_id=f"bench-{run}-{n}", status="online"
        )
        bot = Bot.objects.create(
            organization=org,
            name=f"hb-bot-{run}-{n}",
            strategy="pure_market_making",
            exchange_account=account,
            symbol="BTC/USDT",
            execution="hummingbot",
        )
        HummingbotDeployment.objects.create(
            organization=org,
            bot=bot,
            instance=instance,
            strategy_name="pure_market_making",
            config_file="conf_pmm.yml",
            rendered_config="strategy: pure_market_making\n",
            status=DeploymentStatus.RUNNING,
        )
        out.append(instance)
    return out


def payloads(prefixes: list[str], count: int) -> list[tuple[str, bytes]]:
    """A realistic stream: per order one created event, two fills and a completion; a heartbeat
    and a log line now and then."""
    out: list[tuple[str, bytes]] = []
    n = 0
    while len(out) < count:
        prefix = prefixes[n % len(prefixes)]
        oid = f"buy-BTC-USDT-{n}"
        now = time.time()

        def ev(kind, prefix=prefix, now=now, **data):
            return (f"{prefix}/events", json.dumps({"timestamp": now, "type": kind, "data": data}).encode())

        out.append(
            ev("BuyOrderCreated", order_id=oid, trading_pair="BTC-USDT", order_type="LIMIT", amount=0.02, price=3e4)
        )
        for part in (1, 2):
            out.append(
                ev(
                    "OrderFilled",
                    order_id=oid,
                    trading_pair="BTC-USDT",
                    trade_type="BUY",
                    order_type="LIMIT",
                    price=30000.0 + part,
                    amount=0.01,
                    trade_fee={"percent": 0.001, "percent_token": "USDT", "flat_fees": []},
                    exchange_trade_id=f"{oid}-t{part}",
                )
            )
        out.append(ev("BuyOrderCompleted", order_id=oid, trading_pair="BTC-USDT"))
        if n % 5 == 0:
            out.append((f"{prefix}/hb", json.dumps({"ts": int(now * 1e6)}).encode()))
        if n % 10 == 0:
            log = {"timestamp": now, "msg": "slow order book", "level_no": 30, "level_name": "WARNING"}
            out.append((f"{prefix}/log", json.dumps(log).encode()))
        n += 1
    return out[:count]


PUBLISHER = textwrap.dedent(
    """
    import json, sys, time
    import paho.mqtt.client as paho
    messages = json.load(open(sys.argv[1]))
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    rate = float(sys.argv[2])
    info, started = None, time.perf_counter()
    for n, (topic, body) in enumerate(messages):
        info = client.publish(topic, body.encode(), qos=0)
        ahead = n / rate - (time.perf_counter() - started)
        if ahead > 0.005:
            time.sleep(ahead)
    info.wait_for_publish(120)  # QoS 0: written to the socket, in order
    time.sleep(1)
    client.disconnect()
    client.loop_stop()
    """
)


def end_to_end(prefixes: list[str], tmp: str) -> dict:
    messages = payloads(prefixes, MESSAGES)
    path = os.path.join(tmp, "hb-messages.json")
    with open(path, "w") as fh:
        json.dump([(t, b.decode()) for t, b in messages], fh)
    stop = threading.Event()
    bridge = Bridge(client_id=f"bench-bridge-{uuid.uuid4().hex[:6]}", batch_size=BATCH)
    first: list[float] = []
    original = bridge.process

    def timed(batch):
        if not first:
            first.append(min(m[2] for m in batch))
        return original(batch)

    bridge.process = timed
    thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
    thread.start()
    bridge.connected.wait(10)
    time.sleep(0.5)
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, path, str(RATE)])
    last_count, idle_since = -1, time.monotonic()
    while True:
        time.sleep(0.2)
        count = bridge.stats["messages"]
        if count >= MESSAGES:
            break
        if count != last_count:
            last_count, idle_since = count, time.monotonic()
        elif publisher.poll() is not None and time.monotonic() - idle_since > 3:
            break  # the rest is not coming
    done = time.time()
    publisher.wait(60)
    stop.set()
    thread.join(30)
    received = bridge.stats["messages"]
    return {
        "msgs_per_s": round(received / (done - first[0]), 1) if first else 0.0,
        "received": received,
        "dropped": MESSAGES - received,
        "malformed": bridge.stats["malformed"],
        "fills_written": Fill.objects.filter(bot__organization__slug="bench-hb").count(),
        "fills_sent": sum(1 for _, b in messages if b"OrderFilled" in b),
    }


def write_only(prefixes: list[str]) -> float:
    bridge = Bridge()
    now = time.time()
    messages = [(t, b, now) for t, b in payloads(prefixes, 20_000)]
    started = time.perf_counter()
    for start in range(0, len(messages), bridge.batch_size):
        bridge.process(messages[start : start + bridge.batch_size])
    return round(len(messages) / (time.perf_counter() - started), 1)


def rpc_round_trips(*, nodelay: bool) -> dict:
    """`/status` round trips to a simulated instance. nodelay=False: the installed broker and an
    instance that leaves Nagle's algorithm on, as Hummingbot does. nodelay=True: a private
    broker with `set_tcp_nodelay true` and an instance with TCP_NODELAY."""
    from django.conf import settings

    from hummingbot.rpc import RpcClient
    from tests.hummingbot.sim import SimInstance

    broker, original = None, settings.MQTT_URL
    if nodelay:
        port = 18831
        conf = os.path.join(tempfile.gettempdir(), "bench-mosquitto.conf")
        with open(conf, "w") as fh:
            fh.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n")
        broker = subprocess.Popen([shutil.which("mosquitto"), "-c", conf], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        settings.MQTT_URL = f"mqtt://127.0.0.1:{port}"
    sim_id = f"bench-rpc-{uuid.uuid4().hex[:6]}"
    try:
        with SimInstance(sim_id, tcp_nodelay=nodelay) as sim, RpcClient() as client:
            sim.wait_connected(10)
            client.call(("hbot", sim_id), "import", {"strategy": "conf_pmm"}, timeout=5)
            client.call(("hbot", sim_id), "start", {"async_backend": True}, timeout=5)
            samples = []
            for _ in range(RPC_CALLS):
                started = time.perf_counter()
                client.call(("hbot", sim_id), "status", {"async_backend": False}, timeout=5)
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        settings.MQTT_URL = original
        if broker is not None:
            broker.kill()
            broker.wait()
    samples.sort()
    suffix = "_nodelay" if nodelay else ""
    return {
        f"rpc_p50_ms{suffix}": round(statistics.median(samples), 2),
        f"rpc_p99_ms{suffix}": round(samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))], 2),
    }


def main() -> None:
    sys.path.insert(0, str(ROOT))
    org = reset()
    prefixes = [i.topic_prefix for i in instances(org)]
    with tempfile.TemporaryDirectory() as tmp:
        line = {"bench": "hummingbot_ingest", "messages": MESSAGES, **end_to_end(prefixes, tmp)}
    reset()
    org = reset()
    prefixes = [i.topic_prefix for i in instances(org)]
    line["msgs_per_s_write"] = write_only(prefixes)
    reset()
    line["rpc_calls"] = RPC_CALLS
    line |= rpc_round_trips(nodelay=False)
    if shutil.which("mosquitto"):
        line |= rpc_round_trips(nodelay=True)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
