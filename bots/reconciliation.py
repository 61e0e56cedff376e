"""Reconciliation: make our orders and fills agree with the exchange, per account.

Adopts orders and fills that happened while we were away, moves stale statuses forward, and marks
an order missing only after it has been absent for the grace period. Every correction is a
BotEvent. Work is done in bulk (one open-orders call, one history call and one trades call per
symbol), so an account with thousands of orders reconciles in a few queries per changed order.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bots.models import OPEN_ORDER_STATUSES, Bot, EventLevel, Order, OrderStatus
from bots.orders import TERMINAL, bot_id_from_client_order_id, fills_record, order_apply
from bots.services import bot_event_record
from exchanges.errors import ExchangeError, OrderNotFoundError
from exchanges.gateway import Gateway
from exchanges.models import ExchangeAccount
from exchanges.types import ExchangeOrder, ExchangeTrade

logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    account_id: int
    orders_checked: int = 0
    orders_updated: int = 0
    orders_adopted: int = 0
    orders_missing: int = 0
    fills_added: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def corrections(self) -> int:
        return self.orders_updated + self.orders_adopted + self.orders_missing + self.fills_added


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def _differs(order: Order, ex: ExchangeOrder) -> bool:
    return order.status != ex.status or order.filled != ex.filled or not order.exchange_order_id


def _event(account: ExchangeAccount, order: Order | None, kind: str, message: str, level=EventLevel.INFO, **data):
    bot_event_record(
        organization_id=account.organization_id,
        bot=order.bot if order else None,
        kind=kind,
        message=message,
        level=level,
        data=data,
    )


def reconcile_account(
    *, account: ExchangeAccount, gateway: Gateway | None = None, grace_seconds: int | None = None
) -> ReconcileReport:
    gateway = gateway or Gateway(account)
    grace = dt.timedelta(seconds=settings.RECONCILE_MISSING_GRACE_SECONDS if grace_seconds is None else grace_seconds)
    report = ReconcileReport(account_id=account.pk)
    now = timezone.now()

    db_open = list(Order.objects.filter(exchange_account=account, status__in=OPEN_ORDER_STATUSES).select_related("bot"))
    report.orders_checked = len(db_open)
    by_cid = {o.client_order_id: o for o in db_open}
    by_xid = {o.exchange_order_id: o for o in db_open if o.exchange_order_id}

    ex_open = gateway.open_orders()
    open_cids = set()
    for ex in ex_open:
        order = by_cid.get(ex.client_order_id) or by_xid.get(ex.id)
        if order is None:
            if _adopt(account, ex, gateway, report) is not None:
                open_cids.add(ex.client_order_id)
            continue
        open_cids.add(order.client_order_id)
        if _differs(order, ex):
            order_apply(order=order, update=ex, gateway=gateway)
            report.orders_updated += 1

    gone = [o for o in db_open if o.client_order_id not in open_cids]
    by_symbol: dict[str, list[Order]] = defaultdict(list)
    for order in gone:
        by_symbol[order.symbol].append(order)
    for symbol, orders in by_symbol.items():
        # The paper exchange runs on replayed market time, not wall time: ask for its whole history.
        since = 0 if account.is_paper else _ms(min(o.created_at for o in orders) - dt.timedelta(minutes=5))
        try:
            history = gateway.orders_since(symbol, since)
        except ExchangeError as exc:
            report.errors.append(f"{symbol} order history: {exc.message}")
            continue
        hist_cid = {h.client_order_id: h for h in history if h.client_order_id}
        hist_xid = {h.id: h for h in history}
        for order in orders:
            ex = hist_cid.get(order.client_order_id) or hist_xid.get(order.exchange_order_id)
            if ex is None:
                ex = _lookup(order, gateway)
            if ex is not None:
                before = order.status
                order = order_apply(order=order, update=ex, gateway=gateway)
                report.orders_updated += 1
                _event(
                    account,
                    order,
                    "reconcile.order_updated",
                    f"{order.client_order_id}: {before} → {order.status} (found on the exchange)",
                    client_order_id=order.client_order_id,
                )
            else:
                _missing(account, order, now, grace, report)

    _sync_trades(account, gateway, report, now)
    ExchangeAccount.objects.filter(pk=account.pk).update(last_reconciled_at=now)
    return report


def _lookup(order: Order, gateway: Gateway) -> ExchangeOrder | None:
    try:
        return gateway.fetch_order(symbol=order.symbol, client_order_id=order.client_order_id)
    except OrderNotFoundError:
        return None


def _missing(account, order: Order, now, grace, report: ReconcileReport) -> None:
    """Absent on the exchange: start the clock, and give up on it only after the grace period."""
    if order.missing_since is None:
        Order.objects.filter(pk=order.pk, missing_since__isnull=True).update(missing_since=now)
        order.missing_since = now
        if grace.total_seconds() > 0:
            return
    if now - order.missing_since < grace:
        return
    sent = order.submitted_at is not None
    reason = (
        "not found on the exchange after the grace period"
        if sent
        else "never reached the exchange (the process stopped before sending)"
    )
    with transaction.atomic():
        updated = (
            Order.objects.filter(pk=order.pk)
            .exclude(status__in=TERMINAL)
            .update(status=OrderStatus.EXPIRED if sent else OrderStatus.REJECTED, reason=reason, closed_at=now)
        )
    if updated:
        report.orders_missing += 1
        _event(
            account,
            order,
            "reconcile.order_missing",
            f"{order.client_order_id}: {reason}",
            EventLevel.WARNING,
            client_order_id=order.client_order_id,
        )


def _adopt(
    account, ex: ExchangeOrder, gateway: Gateway, report: ReconcileReport, *, liquidation: bool = False
) -> Order | None:
    """An order on the exchange we have no row for: record it (with its bot when its client id is
    ours, or, for a liquidation, the bot whose position it closed)."""
    bot_id = bot_id_from_client_order_id(ex.client_order_id)
    if bot_id is None and liquidation:
        bot_id = _liquidated_bot(account, ex.symbol)
    bot = (
        Bot.objects.filter(pk=bot_id, organization_id=account.organization_id)
        .filter(Q(exchange_account=account) | Q(secondary_exchange_account=account))
        .first()
        if bot_id
        else None
    )
    cid = ex.client_order_id or f"ext-{account.pk}-{ex.id}"
    if ex.amount <= 0:
        report.errors.append(f"order {ex.id}: no amount, not adopted")
        return None
    order, created = Order.objects.get_or_create(
        client_order_id=cid,
        defaults={
            "organization_id": account.organization_id,
            "bot": bot,
            "exchange_account": account,
            "exchange_order_id": ex.id,
            "symbol": ex.symbol,
            "side": ex.side,
            "type": ex.type,
            "price": ex.price if ex.price and ex.price > 0 else None,
            "amount": ex.amount,
            "submitted_at": timezone.now(),
            "reason": "adopted by reconciliation",
            "tag": "liquidation" if liquidation else "",
            "reduce_only": liquidation,
        },
    )
    order = order_apply(order=order, update=ex, gateway=gateway)
    if created:
        report.orders_adopted += 1
        _event(
            account,
            order,
            "reconcile.order_adopted",
            f"Adopted {ex.side} {ex.amount} {ex.symbol} ({order.status}) placed while we were away.",
            EventLevel.WARNING,
            exchange_order_id=ex.id,
        )
    return order


def _sync_trades(account: ExchangeAccount, gateway: Gateway, report: ReconcileReport, now) -> None:
    overlap = settings.RECONCILE_TRADES_OVERLAP_SECONDS * 1000
    symbols = set(
        Bot.objects.filter(Q(exchange_account=account) | Q(secondary_exchange_account=account)).values_list(
            "symbol", flat=True
        )
    )
    symbols |= set(
        Order.objects.filter(exchange_account=account, created_at__gte=now - dt.timedelta(days=1))
        .values_list("symbol", flat=True)
        .distinct()
    )
    cursors = dict(account.trades_synced_until or {})
    for symbol in sorted(symbols):
        # Without a cursor, the exchange's most recent trades (exchange clocks differ from ours).
        since = cursors[symbol] - overlap if symbol in cursors else None
        try:
            trades = gateway.my_trades(symbol, since=since)
        except ExchangeError as exc:
            report.errors.append(f"{symbol} trades: {exc.message}")
            continue
        if not trades:
            continue
        _record_trades(account, gateway, trades, report)
        cursors[symbol] = max(cursors.get(symbol, 0), max(t.ts for t in trades))
    ExchangeAccount.objects.filter(pk=account.pk).update(trades_synced_until=cursors)
    account.trades_synced_until = cursors


def _liquidated_bot(account: ExchangeAccount, symbol: str) -> int | None:
    """A liquidation order carries no client id of ours: it belongs to the bot whose position on
    that account and symbol it closed (when exactly one bot holds one)."""
    from bots.models import Position

    holders = list(
        Position.objects.filter(bot__exchange_account=account, symbol=symbol, closed_at__isnull=True).values_list(
            "bot_id", flat=True
        )[:2]
    )
    return holders[0] if len(holders) == 1 else None


def _record_trades(account, gateway: Gateway, trades: list[ExchangeTrade], report: ReconcileReport) -> None:
    from bots.models import Fill

    known = set(
        Fill.objects.filter(exchange_account=account, trade_id__in=[t.id for t in trades]).values_list(
            "trade_id", flat=True
        )
    )
    fresh = [t for t in trades if t.id not in known]
    if not fresh:
        return
    groups: dict[str, list[ExchangeTrade]] = defaultdict(list)
    for t in fresh:
        groups[t.order_id].append(t)
    orders = {
        o.exchange_order_id: o
        for o in Order.objects.filter(exchange_account=account, exchange_order_id__in=list(groups))
    }
    for order_id, its_trades in groups.items():
        order = orders.get(order_id)
        if order is None:
            try:
                ex = gateway.fetch_order(symbol=its_trades[0].symbol, order_id=order_id)
            except ExchangeError as exc:
                report.errors.append(f"order {order_id} of a new trade: {exc.message}")
                continue
            order = Order.objects.filter(exchange_account=account, client_order_id=ex.client_order_id).first()
            if order is None:
                order = _adopt(account, ex, gateway, report, liquidation=any(t.liquidation for t in its_trades))
                if order is None:
                    continue
            elif not order.exchange_order_id:
                order = order_apply(order=order, update=ex, gateway=gateway)
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            added = fills_record(order=order, trades=its_trades)
        if added:
            report.fills_added += len(added)
            _event(
                account,
                order,
                "reconcile.fills_added",
                f"{order.client_order_id}: {len(added)} fill(s) recorded from the exchange's trade history.",
                EventLevel.WARNING,
                trade_ids=[f.trade_id for f in added],
            )
