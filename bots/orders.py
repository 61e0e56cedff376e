"""Orders: placement that can neither duplicate nor lose an order, forward-only status updates,
fill recording deduplicated by trade id, and cancellation.

Placement protocol:
1. the client order id is derived from the intent (bot, intent key), so a retried task finds the
   order it already made instead of making another;
2. the Order row is committed (status new) before anything is sent, then marked submitted;
3. creation is sent once; after a timeout or network error the order is looked up by client id
   and adopted if the exchange has it; a "duplicate client order id" answer means it was placed;
4. an order marked submitted but not found is never re-sent: reconciliation decides after a
   grace period (exchanges report fresh orders as unknown for a while).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from bots import live
from bots.models import ORDER_STATUS_RANK, Bot, EventLevel, EventSource, Fill, Order, OrderStatus
from bots.positions import position_apply_fills
from bots.signals import order_placement_step
from core.db import insert_rows, update_rows
from core.errors import ApplicationError
from exchanges.errors import (
    AuthError,
    CircuitOpenError,
    DuplicateOrderError,
    ExchangeError,
    OrderNotFoundError,
    RetryableError,
)
from exchanges.gateway import Gateway
from exchanges.models import ExchangeAccount
from exchanges.types import ExchangeOrder, ExchangeTrade, OrderRequest

logger = logging.getLogger(__name__)
# What order_apply writes (never the creation-time fields, so a row is not rewritten whole).
APPLIED_FIELDS = [
    "exchange_order_id",
    "filled",
    "average",
    "fee",
    "fee_currency",
    "raw",
    "missing_since",
    "closed_at",
    "status",
    "updated_at",
]
TERMINAL = {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
CLIENT_ID_PREFIX = "bo"
# Market orders that only take risk off, so an engaged kill switch lets them out: the switch's own
# flattening and a member's manual close of a position.
CLOSING_TAGS = ("flatten", "close")


def client_order_id_for(*, account_id: int, bot_id: int | None, intent_key: str | None) -> str:
    """`bo<bot>x<20 hex>`: at most 36 characters of [0-9a-z], accepted by every major exchange.
    Deterministic for an intent key, random otherwise."""
    if intent_key:
        token = hashlib.sha256(f"{account_id}:{bot_id}:{intent_key}".encode()).hexdigest()[:20]
    else:
        token = secrets.token_hex(10)
    return f"{CLIENT_ID_PREFIX}{bot_id or 0}x{token}"


def bot_id_from_client_order_id(client_order_id: str | None) -> int | None:
    if not client_order_id or not client_order_id.startswith(CLIENT_ID_PREFIX) or "x" not in client_order_id:
        return None
    head = client_order_id[len(CLIENT_ID_PREFIX) :].split("x", 1)[0]
    return int(head) if head.isdigit() and int(head) > 0 else None


def _step(step: str, order_cid: str) -> None:
    order_placement_step.send(sender=Order, step=step, client_order_id=order_cid)


def _event(order: Order, kind: str, message: str, level: str = EventLevel.INFO, **data) -> None:
    from bots.services import bot_event_record

    bot_event_record(
        organization_id=order.organization_id,
        bot=order.bot,
        kind=kind,
        message=message,
        level=level,
        data={"client_order_id": order.client_order_id, **data},
    )


@dataclass(frozen=True)
class PlacementIntent:
    """One order a caller wants: what to trade and, for idempotency, the intent's stable key."""

    symbol: str
    side: str
    type: str
    amount: Decimal
    price: Decimal | None = None
    bot: Bot | None = None
    intent_key: str | None = None
    tag: str = ""
    reduce_only: bool = False  # perpetuals: the exchange may only reduce the position with it
    # A protective order resting on the exchange: a reduce-only market order that fires when the
    # price reaches `trigger_price` ("sl" or "tp").
    trigger_price: Decimal | None = None
    trigger_kind: str = ""


def _validate(account: ExchangeAccount, intent: PlacementIntent) -> None:
    if intent.side not in ("buy", "sell"):
        raise ApplicationError("side must be buy or sell.", field="side")
    if intent.type not in ("market", "limit"):
        raise ApplicationError("type must be market or limit.", field="type")
    if intent.amount is None or intent.amount <= 0:
        raise ApplicationError("amount must be positive.", field="amount")
    if intent.type == "limit" and (intent.price is None or intent.price <= 0):
        raise ApplicationError("A limit order needs a positive price.", field="price")
    if intent.trigger_price is not None:
        if intent.trigger_kind not in ("sl", "tp"):
            raise ApplicationError("A trigger order is a stop-loss (sl) or a take-profit (tp).", field="trigger_kind")
        if intent.trigger_price <= 0:
            raise ApplicationError("A trigger order needs a positive trigger price.", field="trigger_price")
        if not intent.reduce_only or intent.type != "market":
            raise ApplicationError("A trigger order is a reduce-only market order.", field="trigger_price")
    bot = intent.bot
    if bot is not None and account.pk not in (bot.exchange_account_id, bot.secondary_exchange_account_id):
        raise ApplicationError("The bot does not trade on this account.", field="account")


def order_place(
    *,
    account: ExchangeAccount,
    symbol: str,
    side: str,
    type: str,
    amount: Decimal,
    price: Decimal | None = None,
    bot: Bot | None = None,
    intent_key: str | None = None,
    gateway: Gateway | None = None,
) -> Order:
    """Place one order safely (see the module doc). Returns the Order in whatever state the
    exchange confirmed: open/filled on success, rejected with the exchange's reason, or new with
    `submitted_at` set when the outcome is not yet known."""
    intent = PlacementIntent(
        symbol=symbol, side=side, type=type, amount=amount, price=price, bot=bot, intent_key=intent_key
    )
    return orders_place(account=account, intents=[intent], gateway=gateway)[0]


@live.batched
def orders_place(
    *, account: ExchangeAccount, intents: list[PlacementIntent], gateway: Gateway | None = None, closing: bool = False
) -> list[Order]:
    """Place several orders on one account with the same guarantees as one, paying each database
    and exchange step once for the whole batch (a tick's intents). Returns one Order per intent,
    in order; invalid input raises before anything is written."""
    from risk.selectors import kill_switch_engaged

    for intent in intents:
        _validate(account, intent)
    if closing and not all(i.type == "market" and i.tag in CLOSING_TAGS for i in intents):
        raise ApplicationError("Only orders closing a position pass an engaged kill switch.", code="kill_switch")
    if intents and not closing and kill_switch_engaged(organization_id=account.organization_id):
        raise ApplicationError("The kill switch is engaged: no order can be placed.", code="kill_switch")
    gateway = gateway or Gateway(account)
    cids = [
        client_order_id_for(account_id=account.pk, bot_id=i.bot.pk if i.bot else None, intent_key=i.intent_key)
        for i in intents
    ]
    by_cid = {o.client_order_id: o for o in Order.objects.filter(client_order_id__in=cids)}
    fresh: dict[str, Order] = {}
    for cid, intent in zip(cids, intents, strict=True):
        if cid in by_cid or cid in fresh:
            continue
        _step("before_save", cid)
        fresh[cid] = Order(
            organization_id=account.organization_id,
            bot=intent.bot,
            exchange_account=account,
            client_order_id=cid,
            symbol=intent.symbol,
            side=intent.side,
            type=intent.type,
            amount=intent.amount,
            price=intent.price if intent.type == "limit" else None,
            tag=intent.tag[:32],
            reduce_only=intent.reduce_only,
            trigger_price=intent.trigger_price,
            trigger_kind=intent.trigger_kind if intent.trigger_price is not None else "",
        )
    resumed = {cid: order_resume(order=order, gateway=gateway) for cid, order in by_cid.items()}
    if fresh:
        try:
            insert_rows(Order, list(fresh.values()))  # one INSERT, committed before sending
        except IntegrityError:
            # Another worker saved some of these intents a moment ago: take them one at a time.
            return [_place_one_racing(account, cid, intent, gateway) for cid, intent in zip(cids, intents, strict=True)]
        live.publish_orders(fresh.values())
        for cid in fresh:
            _step("after_save", cid)
        resumed |= {o.client_order_id: o for o in _send_many(list(fresh.values()), gateway)}
    return [resumed[cid] for cid in cids]


def _place_one_racing(account, cid: str, intent: PlacementIntent, gateway: Gateway) -> Order:
    try:
        order = Order.objects.create(
            organization_id=account.organization_id,
            bot=intent.bot,
            exchange_account=account,
            client_order_id=cid,
            symbol=intent.symbol,
            side=intent.side,
            type=intent.type,
            amount=intent.amount,
            price=intent.price if intent.type == "limit" else None,
            tag=intent.tag[:32],
            reduce_only=intent.reduce_only,
            trigger_price=intent.trigger_price,
            trigger_kind=intent.trigger_kind if intent.trigger_price is not None else "",
        )
    except IntegrityError:
        return order_resume(order=Order.objects.get(client_order_id=cid), gateway=gateway)
    live.publish_orders([order])
    return _send_many([order], gateway)[0]


def order_resume(*, order: Order, gateway: Gateway) -> Order:
    """Carry on with an order found already saved (a retried task, a crash, a race)."""
    if order.status in TERMINAL or order.exchange_order_id:
        return order
    if order.submitted_at is None:
        return _send_many([order], gateway)[0]  # saved, never sent
    return _adopt_by_lookup(order, gateway)


def _send_many(orders: list[Order], gateway: Gateway) -> list[Order]:
    """Mark the orders submitted (committed), send them, and apply the answers."""
    if len(orders) > 1 and not gateway.client.atomic_batches:
        return [sent for order in orders for sent in _send_many([order], gateway)]
    now = timezone.now()
    pks = [o.pk for o in orders]
    marked = Order.objects.filter(pk__in=pks, submitted_at__isnull=True).update(submitted_at=now)
    if marked != len(orders):
        # Some were sent by someone else meanwhile: they are looked up, never sent twice.
        ours = set(Order.objects.filter(pk__in=pks, submitted_at=now).values_list("pk", flat=True))
        theirs = [o for o in orders if o.pk not in ours]
        for order in theirs:
            order.refresh_from_db()
        done = {o.pk: _adopt_by_lookup(o, gateway) for o in theirs}
        orders = [o for o in orders if o.pk in ours]
    else:
        done = {}
    for order in orders:
        order.submitted_at = now
    requests = [
        OrderRequest(
            symbol=o.symbol,
            side=o.side,
            type=o.type,
            amount=o.amount,
            price=o.price,
            client_order_id=o.client_order_id,
            reduce_only=o.reduce_only,
            trigger_price=o.trigger_price,
            trigger_kind=o.trigger_kind,
        )
        for o in orders
    ]
    try:
        answers = gateway.create_orders(requests) if requests else []
    except CircuitOpenError as exc:
        answers = [exc] * len(orders)
    confirmed = []
    for order, answer in zip(orders, answers, strict=True):
        if isinstance(answer, ExchangeError):
            done[order.pk] = _on_send_error(order, answer, gateway)
        else:
            _step("after_send", order.client_order_id)
            confirmed.append((order, answer, None))
    for order in orders_apply(items=confirmed, gateway=gateway):
        done[order.pk] = order
    return [done[pk] for pk in pks]


def _on_send_error(order: Order, exc: ExchangeError, gateway: Gateway) -> Order:
    if isinstance(exc, DuplicateOrderError):
        return _adopt_by_lookup(order, gateway)  # the exchange has it already
    if isinstance(exc, CircuitOpenError):
        return _reject(order, f"Not sent: {exc.message}")
    if isinstance(exc, RetryableError):
        _event(
            order,
            "order.outcome_unknown",
            f"No clear answer placing the order ({exc.kind}); looking it up.",
            EventLevel.WARNING,
        )
        return _adopt_by_lookup(order, gateway)
    if isinstance(exc, AuthError):
        from bots.services import bots_pause_for_account

        order = _reject(order, exc.message)
        bots_pause_for_account(account=order.exchange_account, reason=exc.message)
        return order
    return _reject(order, exc.message)


def _adopt_by_lookup(order: Order, gateway: Gateway) -> Order:
    try:
        found = gateway.fetch_order(symbol=order.symbol, client_order_id=order.client_order_id)
    except OrderNotFoundError:
        return order  # maybe the exchange's lag: reconciliation decides after the grace period
    except ExchangeError as exc:
        logger.warning("Lookup of order %s failed: %s", order.client_order_id, exc.message)
        return order
    return order_apply(order=order, update=found, gateway=gateway)


def _reject(order: Order, reason: str) -> Order:
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).exclude(status__in=TERMINAL).update(
            status=OrderStatus.REJECTED, reason=reason[:500], closed_at=timezone.now()
        )
        order.refresh_from_db()
        live.publish_orders([order])
        _event(order, "order.rejected", f"Order rejected: {reason}", EventLevel.WARNING)
    return order


def _advance(current: str, reported: str) -> str:
    """Statuses only move forward: an older report never undoes a newer state."""
    if current in TERMINAL:
        return current
    return reported if ORDER_STATUS_RANK[OrderStatus(reported)] >= ORDER_STATUS_RANK[OrderStatus(current)] else current


def order_apply(
    *, order: Order, update: ExchangeOrder, gateway: Gateway | None = None, trades: list[ExchangeTrade] | None = None
) -> Order:
    """Merge what the exchange reports into our row (forward only) and record new fills."""
    return orders_apply(items=[(order, update, trades)], gateway=gateway)[0]


@live.batched
def orders_apply(
    *, items: list[tuple[Order, ExchangeOrder, list[ExchangeTrade] | None]], gateway: Gateway | None = None
) -> list[Order]:
    """`order_apply` for many orders in one transaction (rows locked in id order)."""
    if not items:
        return []
    resolved = []
    for order, update, trades in items:
        if trades is None and update.trades is not None and sum(t.amount for t in update.trades) >= update.filled:
            trades = update.trades  # the exchange sent them with the order: no second call
        if trades is None and gateway is not None and update.filled > 0:
            trades = _trades_of(order, update, gateway)
        resolved.append((order.pk, update, trades))
    now = timezone.now()
    with transaction.atomic():
        locked = {
            o.pk: o for o in Order.objects.select_for_update().filter(pk__in=[r[0] for r in resolved]).order_by("pk")
        }
        for pk, update, _ in resolved:
            _merge(locked[pk], update, now)
        update_rows(Order, list(locked.values()), APPLIED_FIELDS)
        live.publish_orders(locked.values())
        fills_record_many(items=[(locked[pk], trades) for pk, _, trades in resolved if trades])
        for order in locked.values():
            _step("before_commit", order.client_order_id)
    return [locked[pk] for pk, _, _ in resolved]


def _merge(order: Order, update: ExchangeOrder, now) -> None:
    status = _advance(order.status, update.status)
    order.exchange_order_id = order.exchange_order_id or update.id
    order.filled = min(order.amount, max(order.filled, update.filled))
    order.average = update.average if update.average is not None else order.average
    order.fee = max(order.fee, update.fee)
    order.fee_currency = update.fee_currency or order.fee_currency
    order.raw = update.raw or order.raw
    order.missing_since = None
    if status != order.status and status in TERMINAL:
        order.closed_at = now
    order.status = status
    order.updated_at = now  # bulk_update does not touch auto_now fields


def _trades_of(order: Order, update: ExchangeOrder, gateway: Gateway) -> list[ExchangeTrade]:
    since = int((order.created_at - dt.timedelta(minutes=5)).timestamp() * 1000) if update.ts is None else update.ts
    try:
        return [t for t in gateway.my_trades(order.symbol, since=since) if t.order_id == update.id]
    except ExchangeError as exc:
        logger.warning("Trades of order %s not read now (%s); reconciliation will.", order.client_order_id, exc)
        return []


def fills_record(*, order: Order, trades: list[ExchangeTrade]) -> list[Fill]:
    """Store the trades of one order not stored yet (by trade id) and move the position.
    Call with the order row locked so that concurrent recorders of one order serialise."""
    return fills_record_many(items=[(order, trades)])


@live.batched
def fills_record_many(*, items: list[tuple[Order, list[ExchangeTrade]]]) -> list[Fill]:
    """`fills_record` for several locked orders: one read, one insert, one position pass."""
    mine = {order.pk: {t.id: t for t in trades if t.order_id == order.exchange_order_id} for order, trades in items}
    if not any(mine.values()):
        return []
    orders = {order.pk: order for order, _ in items}
    # One read: trade ids already stored (for these orders or, defensively, any order of their
    # accounts), and each order's filled total so far.
    by_account: dict[int, list[str]] = {}
    for order in orders.values():
        by_account.setdefault(order.exchange_account_id, []).extend(mine[order.pk])
    stored = _stored_fills(list(orders), by_account)
    known = {(account, trade_id) for account, trade_id, _, _ in stored}
    totals: dict[int, Decimal] = {}
    for _, _, amount, order_id in stored:
        totals[order_id] = totals.get(order_id, Decimal("0")) + amount
    new = []
    for pk, trades in mine.items():
        order = orders[pk]
        for t in sorted(trades.values(), key=lambda t: (t.ts, t.id)):
            if (order.exchange_account_id, t.id) in known:
                continue
            known.add((order.exchange_account_id, t.id))
            new.append(
                Fill(
                    organization_id=order.organization_id,
                    order=order,
                    exchange_account_id=order.exchange_account_id,
                    bot_id=order.bot_id,
                    trade_id=t.id,
                    symbol=order.symbol,
                    side=order.side,
                    price=t.price,
                    amount=t.amount,
                    fee=t.fee,
                    fee_currency=t.fee_currency,
                    is_maker=t.is_maker,
                    liquidation=t.liquidation,
                    ts=dt.datetime.fromtimestamp(t.ts / 1000, tz=dt.UTC),
                )
            )
            totals[pk] = totals.get(pk, Decimal("0")) + t.amount
    if not new:
        return []
    insert_rows(Fill, new)
    grown = []
    for pk, order in orders.items():
        total = min(totals.get(pk, Decimal("0")), order.amount)
        if total > order.filled:
            order.filled = total
            grown.append(order)
    update_rows(Order, grown, ["filled"])
    live.publish_orders(grown)
    live.publish_fills(new)
    live.publish_positions(position_apply_fills(fills=new))
    for fill in new:
        if fill.liquidation:
            _liquidation_event(orders[fill.order_id], fill)
    return new


def _liquidation_event(order: Order, fill: Fill) -> None:
    from bots.services import bot_event_record

    bot_event_record(
        organization_id=order.organization_id,
        bot=order.bot,
        kind="position.liquidated",
        message=f"The exchange liquidated the {order.symbol} position: {fill.side} {fill.amount} at {fill.price}. "
        "The margin posted for it is lost.",
        level=EventLevel.CRITICAL,
        data={"price": str(fill.price), "amount": str(fill.amount), "trade_id": fill.trade_id},
    )


def _stored_fills(order_ids: list[int], trade_ids: dict[int, list[str]]) -> list[tuple[int, str, Decimal, int]]:
    """(account, trade id, amount, order) of the fills stored for these orders, or with these
    trade ids on these accounts. Each id list is one array parameter (a batch of thousands of
    fills would otherwise be thousands of placeholders)."""
    if connection.vendor != "postgresql":
        wanted = Q(order_id__in=order_ids)
        for account_id, ids in trade_ids.items():
            if ids:
                wanted |= Q(exchange_account_id=account_id, trade_id__in=ids)
        return list(Fill.objects.filter(wanted).values_list("exchange_account_id", "trade_id", "amount", "order_id"))
    sql = f"SELECT exchange_account_id, trade_id, amount, order_id FROM {Fill._meta.db_table} WHERE order_id = ANY(%s)"
    params: list = [order_ids]
    for account_id, ids in trade_ids.items():
        if ids:
            sql += " OR (exchange_account_id = %s AND trade_id = ANY(%s))"
            params += [account_id, ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@live.batched
def order_cancel(*, order: Order, gateway: Gateway | None = None) -> Order:
    """Cancel an open order; an order the exchange already closed is updated instead."""
    if order.status in TERMINAL:
        return order
    gateway = gateway or Gateway(order.exchange_account)
    try:
        answer = gateway.cancel_order(
            symbol=order.symbol, order_id=order.exchange_order_id or None, client_order_id=order.client_order_id
        )
    except ExchangeError:
        try:
            answer = gateway.fetch_order(symbol=order.symbol, client_order_id=order.client_order_id)
        except OrderNotFoundError:
            if order.submitted_at is None:
                # Never sent: nothing can be open on the exchange.
                return _close_unsent(order)
            raise
    return order_apply(order=order, update=answer, gateway=gateway)


def _close_unsent(order: Order) -> Order:
    Order.objects.filter(pk=order.pk, submitted_at__isnull=True).exclude(status__in=TERMINAL).update(
        status=OrderStatus.CANCELED, reason="canceled before it was sent", closed_at=timezone.now()
    )
    order.refresh_from_db()
    live.publish_orders([order])
    return order


@live.batched
def orders_cancel_for_bot(*, bot: Bot, source: str = EventSource.SYSTEM) -> int:
    """Cancel every open order of a bot (bot stop, kill switch); returns how many were canceled."""
    canceled = 0
    for order in Order.objects.filter(bot=bot, status__in=[s for s in OrderStatus if s not in TERMINAL]):
        try:
            if order_cancel(order=order).status == OrderStatus.CANCELED:
                canceled += 1
        except ExchangeError as exc:
            _event(
                order,
                "order.cancel_failed",
                f"Could not cancel {order.client_order_id}: {exc.message}",
                EventLevel.ERROR,
            )
    return canceled
