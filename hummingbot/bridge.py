"""The bridge: one long-running process that listens to every Hummingbot instance and writes what
they report (heartbeats, availability, order events and fills, console notices, logs).

paho's network thread only queues messages; the bridge's own loop drains the queue and writes a
whole batch in one transaction, so thousands of messages a second cost a handful of statements.
A payload that is not what the wire format promises is counted, logged and skipped. paho
reconnects after a broker restart and the bridge subscribes again on every connect. Streams are
at most once (QoS 0): fills that never arrive are repaired from `/history` (see services).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from bots.models import ORDER_STATUS_RANK, BotEvent, EventLevel, EventSource, Fill, Order, OrderStatus
from bots.services import bot_events_write
from core.db import insert_rows, update_rows
from exchanges.types import ExchangeTrade
from hummingbot import wire
from hummingbot.models import DeploymentStatus, HummingbotDeployment, HummingbotInstance, InstanceStatus

logger = logging.getLogger(__name__)
ACTIVE_DEPLOYMENTS = (DeploymentStatus.DEPLOYING, DeploymentStatus.RUNNING, DeploymentStatus.UNKNOWN)
ORDER_EVENTS = {
    "BuyOrderCreated": OrderStatus.OPEN,
    "SellOrderCreated": OrderStatus.OPEN,
    "BuyOrderCompleted": OrderStatus.FILLED,
    "SellOrderCompleted": OrderStatus.FILLED,
    "OrderCancelled": OrderStatus.CANCELED,
    "OrderExpired": OrderStatus.EXPIRED,
    "OrderFailure": OrderStatus.REJECTED,
}
LOG_LEVELS = {"DEBUG": EventLevel.DEBUG, "INFO": EventLevel.INFO, "WARNING": EventLevel.WARNING}
MAX_TEXT = 2000


class Malformed(ValueError):
    """A payload that does not follow the wire format."""


@dataclass
class Batch:
    """One drained batch, parsed and grouped by what it writes."""

    seen: dict[int, dt.datetime] = field(default_factory=dict)  # instance pk -> newest sign of life
    offline: set[int] = field(default_factory=set)
    events: list[tuple[HummingbotInstance, dict]] = field(default_factory=list)
    texts: list[tuple[HummingbotInstance, str, str, str]] = field(default_factory=list)  # kind, level, text
    bots: set[tuple[int, int]] = field(default_factory=set)  # (organization, bot) whose orders or fills changed


def _number(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Malformed(f"{name} is not a number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise Malformed(f"{name} is not a number: {value!r}") from None
    if not number.is_finite():
        raise Malformed(f"{name} is not finite")
    return number


def _object(payload: bytes) -> dict:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("not a JSON object")
    return data


def _symbol(trading_pair: Any) -> str:
    if not isinstance(trading_pair, str) or trading_pair.count("-") != 1:
        raise Malformed(f"trading_pair is not BASE-QUOTE: {trading_pair!r}")
    return trading_pair.replace("-", "/").upper()


def _fee(data: dict) -> tuple[Decimal, str]:
    """The fee paid in a fill: flat fees when given, else percent of the quote value."""
    fee = data.get("trade_fee") or {}
    if not isinstance(fee, dict):
        return Decimal("0"), ""
    flat = fee.get("flat_fees") or []
    if isinstance(flat, list) and flat and isinstance(flat[0], dict):
        return _number(flat[0].get("amount", 0), "flat fee"), str(flat[0].get("token", ""))[:16]
    percent = _number(fee.get("percent", 0) or 0, "fee percent")
    if percent:
        value = _number(data["price"], "price") * _number(data["amount"], "amount") * percent
        return value, str(fee.get("percent_token") or data["trading_pair"].split("-")[1])[:16]
    return Decimal("0"), ""


class Bridge:
    """Subscribe, queue, and write in batches. `process()` is the whole write path and can be
    fed messages directly (tests, benchmarks)."""

    def __init__(self, *, client_id: str = "backoffice-bridge", batch_size: int = 5000, flush_seconds: float = 0.1):
        self.client_id = client_id
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.inbox: queue.SimpleQueue[tuple[str, bytes, float]] = queue.SimpleQueue()
        self.stats: Counter[str] = Counter()
        self.connected = threading.Event()
        self._reader = None
        self._conn = None
        self._pump = None
        self._instances: dict[tuple[str, str], HummingbotInstance] = {}
        self._instances_loaded = 0.0

    # -- MQTT ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the reader: a child process that owns the MQTT connection and hands messages
        over in batches, so reading the socket never waits for the database writes (QoS 0
        messages a slow reader leaves at the broker are dropped there)."""
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._reader = context.Process(
            target=_reader_main, args=(child, self.client_id, wire.broker()), name="hb-bridge-reader", daemon=True
        )
        self._reader.start()
        child.close()
        self._pump = threading.Thread(target=self._pump_loop, name="hb-bridge-pump", daemon=True)
        self._pump.start()

    def stop(self) -> None:
        if self._reader is None:
            return
        try:
            self._conn.send(("stop", None))
        except (OSError, ValueError):
            pass
        self._reader.join(10)
        if self._reader.is_alive():
            self._reader.kill()
        self._pump.join(5)
        self._conn.close()
        self._reader = None

    def _pump_loop(self) -> None:
        while True:
            try:
                kind, value = self._conn.recv()
            except (EOFError, OSError):
                self.connected.clear()
                return
            if kind == "messages":
                for item in value:
                    self.inbox.put(item)
            elif kind == "connected":
                self.stats["connects"] += 1
                self.connected.set()
                logger.info("Hummingbot bridge connected and subscribed (connection %s)", self.stats["connects"])
            elif kind == "disconnected":
                self.connected.clear()
                self.stats["disconnects"] += 1
                logger.warning("Hummingbot bridge lost the broker (%s); reconnecting", value)

    # -- loop ---------------------------------------------------------------------------------------
    def drain(self, *, wait: float | None = None) -> list[tuple[str, bytes, float]]:
        """Up to batch_size queued messages, waiting at most `wait` seconds for the first."""
        items = []
        try:
            items.append(self.inbox.get(timeout=self.flush_seconds if wait is None else wait))
        except queue.Empty:
            return items
        while len(items) < self.batch_size:
            try:
                items.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return items

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set: drain and write. A failing batch is logged and skipped; the bridge
        keeps running."""
        self.start()
        try:
            while not stop.is_set():
                batch = self.drain()
                if not batch:
                    continue
                try:
                    self.process(batch)
                except Exception:
                    self.stats["failed_batches"] += 1
                    logger.exception("A batch of %s Hummingbot messages could not be written", len(batch))
        finally:
            self.stop()
            connection.close()  # this thread's database connection

    # -- writing ------------------------------------------------------------------------------------
    def _instance(self, namespace: str, instance_id: str) -> HummingbotInstance | None:
        now = time.monotonic()
        key = (namespace, instance_id)
        if (key not in self._instances and now - self._instances_loaded > 1.0) or now - self._instances_loaded > 30:
            self._instances = {(i.namespace, i.instance_id): i for i in HummingbotInstance.objects.all()}
            self._instances_loaded = now
        return self._instances.get(key)

    def parse(self, messages: list[tuple[str, bytes, float]]) -> Batch:
        batch = Batch()
        for name, payload, received in messages:
            parts = wire.split_topic(name)
            if parts is None:
                self.stats["ignored"] += 1
                continue
            namespace, instance_id, stream = parts
            instance = self._instance(namespace, instance_id)
            if instance is None:
                self.stats["unknown_instance"] += 1
                continue
            try:
                self._parse_one(batch, instance, stream, payload, received)
            except Malformed as exc:
                self.stats["malformed"] += 1
                if self.stats["malformed"] <= 100 or self.stats["malformed"] % 1000 == 0:
                    logger.warning("Skipped a malformed %s message from %s: %s", stream, instance.topic_prefix, exc)
        return batch

    def _parse_one(self, batch: Batch, instance, stream: str, payload: bytes, received: float) -> None:
        self.stats[stream] += 1
        data = _object(payload)
        at = dt.datetime.fromtimestamp(received, tz=dt.UTC)
        if stream == "hb":
            _number(data.get("ts"), "ts")
            batch.seen[instance.pk] = max(batch.seen.get(instance.pk, at), at)
        elif stream == "status_updates":
            if data.get("type") == "availability":
                if data.get("msg") == "online":
                    batch.seen[instance.pk] = max(batch.seen.get(instance.pk, at), at)
                elif data.get("msg") == "offline":
                    batch.offline.add(instance.pk)
        elif stream == "events":
            kind, body = data.get("type"), data.get("data")
            if not isinstance(kind, str) or not isinstance(body, dict):
                raise Malformed("an event needs a type and a data object")
            batch.events.append((instance, data))
        elif stream == "notify":
            text = data.get("msg")
            if not isinstance(text, str):
                raise Malformed("a notice needs msg")
            batch.texts.append((instance, "hummingbot.notify", EventLevel.INFO, text))
        elif stream == "log":
            text, level = data.get("msg"), data.get("level_name")
            if not isinstance(text, str):
                raise Malformed("a log line needs msg")
            if level in ("WARNING", "ERROR", "CRITICAL"):  # info and debug lines stay in the instance's log
                batch.texts.append((instance, "hummingbot.log", LOG_LEVELS.get(level, EventLevel.ERROR), text))

    def process(self, messages: list[tuple[str, bytes, float]]) -> Batch:
        batch = self.parse(messages)
        with transaction.atomic():
            came_online = self._write_health(batch)
            deployments = self._deployments({i.pk for i, _ in batch.events} | {i.pk for i, *_ in batch.texts})
            events = self._write_orders(batch, deployments)
            for instance, kind, level, text in batch.texts:
                bot = self._bot_for(deployments, instance, None)
                events.append(
                    BotEvent(
                        organization_id=instance.organization_id,
                        bot=bot,
                        kind=kind,
                        level=level,
                        message=text[:MAX_TEXT],
                        data={"instance": instance.pk},
                        source=EventSource.HUMMINGBOT,
                    )
                )
            for instance in came_online:
                events.append(
                    BotEvent(
                        organization_id=instance.organization_id,
                        kind="hummingbot.instance_online",
                        level=EventLevel.INFO,
                        message=f"Hummingbot instance {instance.name} is online.",
                        data={"instance": instance.pk},
                        source=EventSource.HUMMINGBOT,
                    )
                )
            bot_events_write(events)
            self._announce(batch, came_online, events)
        self.stats["messages"] += len(messages)
        return batch

    @staticmethod
    def _announce(batch: Batch, came_online, events: list[BotEvent]) -> None:
        """One live update per organization and batch, after commit: which instances and bots
        changed."""
        by_org: dict[int, dict[str, set[int]]] = {}

        def changed(org_id: int) -> dict[str, set[int]]:
            return by_org.setdefault(org_id, {"instances": set(), "bots": set()})

        for instance in [i for i, _ in batch.events] + list(came_online):
            changed(instance.organization_id)["instances"].add(instance.pk)
        for event in events:
            if event.bot_id:
                changed(event.organization_id)["bots"].add(event.bot_id)
        for org_id, bot_id in batch.bots:
            changed(org_id)["bots"].add(bot_id)
        from bots.live import publish_on_commit

        for org_id, what in by_org.items():
            publish_on_commit(org_id, "hummingbot", instances=sorted(what["instances"]), bots=sorted(what["bots"]))

    def _write_health(self, batch: Batch) -> list[HummingbotInstance]:
        if not batch.seen and not batch.offline:
            return []
        rows = {i.pk: i for i in HummingbotInstance.objects.filter(pk__in=set(batch.seen) | batch.offline)}
        came_online, changed = [], []
        for pk, at in batch.seen.items():
            instance = rows.get(pk)
            if instance is None:
                continue
            if instance.status != InstanceStatus.ONLINE:
                came_online.append(instance)
            instance.status, instance.last_heartbeat_at = InstanceStatus.ONLINE, at
            changed.append(instance)
        for pk in batch.offline - set(batch.seen):
            if pk in rows:
                rows[pk].status = InstanceStatus.OFFLINE
                changed.append(rows[pk])
        update_rows(HummingbotInstance, changed, ["status", "last_heartbeat_at"])
        return came_online

    @staticmethod
    def _deployments(instance_pks: set[int]) -> dict[int, list[HummingbotDeployment]]:
        out: dict[int, list[HummingbotDeployment]] = {}
        if not instance_pks:
            return out
        rows = HummingbotDeployment.objects.filter(instance_id__in=instance_pks, status__in=ACTIVE_DEPLOYMENTS)
        for deployment in rows.select_related("bot__exchange_account"):
            out.setdefault(deployment.instance_id, []).append(deployment)
        return out

    @staticmethod
    def _bot_for(deployments, instance, symbol: str | None):
        mine = deployments.get(instance.pk, [])
        if symbol is not None:
            mine = [d for d in mine if d.bot.symbol == symbol] or mine
        return mine[0].bot if len(mine) == 1 or (mine and symbol is not None) else None

    def _write_orders(self, batch: Batch, deployments) -> list[BotEvent]:
        """Order events to Order rows (created on first sight, statuses forward only) and fills
        to Fill rows (deduplicated by trade id), positions moved by the usual fill path."""
        from bots.orders import fills_record_many

        notes: list[BotEvent] = []
        parsed = []
        for instance, event in batch.events:
            try:
                parsed.append(self._order_event(instance, event, deployments))
            except Malformed as exc:
                self.stats["malformed"] += 1
                logger.warning("Skipped a malformed event from %s: %s", instance.topic_prefix, exc)
        parsed = [p for p in parsed if p is not None]
        if not parsed:
            return notes
        batch.bots.update((p["bot"].organization_id, p["bot"].pk) for p in parsed)
        cids = {p["cid"] for p in parsed}
        orders = {o.client_order_id: o for o in Order.objects.select_for_update().filter(client_order_id__in=cids)}
        fresh = []
        for p in parsed:
            if p["cid"] not in orders:
                order = Order(
                    organization_id=p["bot"].organization_id,
                    bot=p["bot"],
                    exchange_account_id=p["bot"].exchange_account_id,
                    client_order_id=p["cid"],
                    exchange_order_id=p["order_id"],
                    tag="hummingbot",
                    symbol=p["symbol"],
                    side=p["side"],
                    type=p["type"],
                    price=p["price"] if p["type"] == "limit" and p["price"] else None,
                    amount=p["amount"],
                    status=OrderStatus.OPEN,
                    submitted_at=timezone.now(),
                )
                orders[p["cid"]] = order
                fresh.append(order)
        insert_rows(Order, fresh)
        moved, trades = {}, {}
        for p in parsed:
            order = orders[p["cid"]]
            status = p["status"]
            if status and ORDER_STATUS_RANK[status] > ORDER_STATUS_RANK[order.status]:
                order.status = status  # forward only: a late "created" never reopens a filled order
                if ORDER_STATUS_RANK[status] == ORDER_STATUS_RANK[OrderStatus.FILLED]:
                    order.closed_at = timezone.now()
                moved[order.pk] = order
            if p["trade"] is not None:
                trades.setdefault(order.pk, (order, []))[1].append(p["trade"])
            if status == OrderStatus.REJECTED:
                notes.append(
                    BotEvent(
                        organization_id=order.organization_id,
                        bot=order.bot,
                        kind="order.rejected",
                        level=EventLevel.WARNING,
                        message=f"Hummingbot order {p['order_id']} failed.",
                        data={"client_order_id": order.client_order_id},
                        source=EventSource.HUMMINGBOT,
                    )
                )
        update_rows(Order, list(moved.values()), ["status", "closed_at"])
        new = fills_record_many(items=list(trades.values()))
        self.stats["fills"] += len(new)
        if new:
            # An order first seen through its fills is only as big as what has filled so far.
            totals = dict(
                Fill.objects.filter(order_id__in={f.order_id for f in new})
                .values("order_id")
                .annotate(total=Sum("amount"))
                .values_list("order_id", "total")
            )
            grown = [o for o, _ in trades.values() if totals.get(o.pk, 0) > o.amount]
            for order in grown:
                order.amount = order.filled = totals[order.pk]
            update_rows(Order, grown, ["amount", "filled"])
        return notes

    def _order_event(self, instance, event: dict, deployments) -> dict | None:
        kind, data = event["type"], event["data"]
        if kind not in ORDER_EVENTS and kind != "OrderFilled":
            self.stats["other_events"] += 1
            return None
        order_id = data.get("order_id")
        if not isinstance(order_id, str) or not order_id:
            raise Malformed(f"{kind} without order_id")
        symbol = _symbol(data.get("trading_pair")) if "trading_pair" in data else None
        bot = self._bot_for(deployments, instance, symbol)
        if bot is None:
            self.stats["unassigned_events"] += 1
            return None
        side = wire.enum_value(data.get("trade_type")) or ("buy" if kind.startswith("Buy") else "sell")
        if side not in ("buy", "sell"):
            raise Malformed(f"trade_type {data.get('trade_type')!r}")
        amount = data.get("amount", data.get("base_asset_amount"))
        price = data.get("price")
        parsed = {
            "cid": f"hb{instance.pk}-{order_id}"[:64],
            "order_id": order_id[:128],
            "bot": bot,
            "symbol": symbol or bot.symbol,
            "side": side,
            # Fills name it order_type; created events name it type.
            "type": "market" if wire.enum_value(data.get("order_type", data.get("type"))) == "market" else "limit",
            "amount": _number(amount, "amount") if amount is not None else Decimal("0"),
            "price": _number(price, "price") if price is not None else None,
            "status": ORDER_EVENTS.get(kind),
            "trade": None,
        }
        if parsed["amount"] <= 0 and kind in ("BuyOrderCreated", "SellOrderCreated", "OrderFilled"):
            raise Malformed(f"{kind} with amount {amount!r}")
        if parsed["amount"] <= 0:
            parsed["amount"] = Decimal("0.00000001")  # only a status change; the row is created for it
        if kind == "OrderFilled":
            if parsed["price"] is None or parsed["price"] <= 0:
                raise Malformed("OrderFilled without a positive price")
            fee, fee_currency = _fee(data)
            ts = event.get("timestamp", data.get("timestamp"))
            ts_ms = int(_number(ts, "timestamp") * 1000) if ts is not None else wire.now_ms()
            trade_id = str(data.get("exchange_trade_id") or f"{order_id}:{ts_ms}:{parsed['amount']}")[:128]
            parsed["trade"] = ExchangeTrade(
                id=trade_id,
                order_id=parsed["order_id"],
                symbol=parsed["symbol"],
                side=side,
                price=parsed["price"],
                amount=parsed["amount"],
                ts=ts_ms,
                fee=fee,
                fee_currency=fee_currency,
                client_order_id=parsed["cid"],
            )
        return parsed


def _reader_main(conn, client_id: str, conf: dict) -> None:
    """The reader process: connect, subscribe on every (re)connect, and pass what arrives to the
    bridge every 20 ms. It touches no database."""
    buffer: list[tuple[str, bytes, float]] = []
    lock = threading.Lock()  # guards the buffer and the pipe (paho calls back from its thread)

    def send(kind: str, value) -> None:
        with lock:
            conn.send((kind, value))

    def on_connect(client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            send("disconnected", f"refused: {reason_code}")
            return
        client.subscribe([(f"+/+/{stream}", 0) for stream in wire.STREAMS])
        send("connected", None)

    def on_disconnect(client, userdata, flags, reason_code, properties=None) -> None:
        send("disconnected", str(reason_code))

    def on_message(client, userdata, message) -> None:
        received = time.time()
        with lock:
            buffer.append((message.topic, message.payload, received))

    client, _ = wire.mqtt_client(client_id)
    client.on_connect, client.on_disconnect, client.on_message = on_connect, on_disconnect, on_message
    client.connect_async(conf["host"], conf["port"], keepalive=30)
    client.loop_start()
    try:
        while True:
            time.sleep(0.02)
            with lock:
                batch = buffer[:]
                buffer.clear()
                if batch:
                    conn.send(("messages", batch))
            if conn.poll() and conn.recv()[0] == "stop":
                break
    except (EOFError, OSError, BrokenPipeError):
        pass  # the bridge is gone
    finally:
        client.disconnect()
        client.loop_stop()
