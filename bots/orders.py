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
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from bots.models import ORDER_STATUS_RANK, Bot, EventLevel, EventSource, Fill, Order, OrderStatus
from bots.positions import position_apply_fills
from bots.signals import order_placement_step
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
    """Place an order safely (see the module doc). Returns the Order in whatever state the
    exchange confirmed: open/filled on success, rejected with the exchange's reason, or new with
    `submitted_at` set when the outcome is not yet known."""
    if side not in ("buy", "sell"):
        raise ApplicationError("side must be buy or sell.", field="side")
    if type not in ("market", "limit"):
        raise ApplicationError("type must be market or limit.", field="type")
    if amount is None or amount <= 0:
        raise ApplicationError("amount must be positive.", field="amount")
    if type == "limit" and (price is None or price <= 0):
        raise ApplicationError("A limit order needs a positive price.", field="price")
    if bot is not None and bot.exchange_account_id != account.pk and bot.secondary_exchange_account_id != account.pk:
        raise ApplicationError("The bot does not trade on this account.", field="account")
    gateway = gateway or Gateway(account)
    cid = client_order_id_for(account_id=account.pk, bot_id=bot.pk if bot else None, intent_key=intent_key)

    existing = Order.objects.filter(client_order_id=cid).first()
    if existing is not None:
        return order_resume(order=existing, gateway=gateway)
    _step("before_save", cid)
    try:
        order = Order.objects.create(
            organization_id=account.organization_id,
            bot=bot,
            exchange_account=account,
            client_order_id=cid,
            symbol=symbol,
            side=side,
            type=type,
            amount=amount,
            price=price if type == "limit" else None,
        )
    except IntegrityError:
        # Another worker made this very intent's order a moment ago: continue with theirs.
        return order_resume(order=Order.objects.get(client_order_id=cid), gateway=gateway)
    _step("after_save", cid)
    return _send(order, gateway)


def order_resume(*, order: Order, gateway: Gateway) -> Order:
    """Carry on with an order found already saved (a retried task, a crash, a race)."""
    if order.status in TERMINAL or order.exchange_order_id:
        return order
    if order.submitted_at is None:
        return _send(order, gateway)  # saved, never sent
    return _adopt_by_lookup(order, gateway)


def _send(order: Order, gateway: Gateway) -> Order:
    now = timezone.now()
    if not Order.objects.filter(pk=order.pk, submitted_at__isnull=True).update(submitted_at=now):
        order.refresh_from_db()
        return _adopt_by_lookup(order, gateway)  # someone else sent it
    order.submitted_at = now
    request = OrderRequest(
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        amount=order.amount,
        price=order.price,
        client_order_id=order.client_order_id,
    )
    try:
        answer = gateway.create_order(request)
    except DuplicateOrderError:
        return _adopt_by_lookup(order, gateway)
    except CircuitOpenError as exc:
        return _reject(order, f"Not sent: {exc.message}")
    except RetryableError as exc:
        _event(
            order,
            "order.outcome_unknown",
            f"No clear answer placing the order ({exc.kind}); looking it up.",
            EventLevel.WARNING,
        )
        return _adopt_by_lookup(order, gateway)
    except AuthError as exc:
        from bots.services import bots_pause_for_account

        order = _reject(order, exc.message)
        bots_pause_for_account(account=order.exchange_account, reason=exc.message)
        return order
    except ExchangeError as exc:
        return _reject(order, exc.message)
    _step("after_send", order.client_order_id)
    return order_apply(order=order, update=answer, gateway=gateway)


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
    if trades is None and update.trades is not None and sum(t.amount for t in update.trades) >= update.filled:
        trades = update.trades  # the exchange sent them with the order: no second call
    if trades is None and gateway is not None and update.filled > 0:
        trades = _trades_of(order, update, gateway)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        status = _advance(order.status, update.status)
        order.exchange_order_id = order.exchange_order_id or update.id
        order.filled = min(order.amount, max(order.filled, update.filled))
        order.average = update.average if update.average is not None else order.average
        order.fee = max(order.fee, update.fee)
        order.fee_currency = update.fee_currency or order.fee_currency
        order.raw = update.raw or order.raw
        order.missing_since = None
        if status != order.status and status in TERMINAL:
            order.closed_at = timezone.now()
        order.status = status
        order.save(update_fields=APPLIED_FIELDS)
        if trades:
            fills_record(order=order, trades=trades)
        _step("before_commit", order.client_order_id)
    return order


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
    mine = {t.id: t for t in trades if t.order_id == order.exchange_order_id}
    if not mine:
        return []
    # One read: the trade ids already stored (for this order or, defensively, any order of the
    # account), and this order's filled total so far.
    stored = list(
        Fill.objects.filter(
            Q(order=order) | Q(exchange_account_id=order.exchange_account_id, trade_id__in=list(mine))
        ).values_list("trade_id", "amount", "order_id")
    )
    known = {trade_id for trade_id, _, _ in stored}
    new = [
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
            ts=dt.datetime.fromtimestamp(t.ts / 1000, tz=dt.UTC),
        )
        for t in sorted(mine.values(), key=lambda t: (t.ts, t.id))
        if t.id not in known
    ]
    if not new:
        return []
    Fill.objects.bulk_create(new)
    total = sum((a for _, a, oid in stored if oid == order.pk), Decimal("0")) + sum(f.amount for f in new)
    if total > order.filled:
        Order.objects.filter(pk=order.pk).update(filled=min(total, order.amount))
        order.filled = min(total, order.amount)
    position_apply_fills(fills=new)
    return new


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
    return order


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
