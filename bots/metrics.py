"""A bot's headline figures, read with a fixed number of aggregate queries (three), whatever the
number of its orders and fills. The API's metrics action and the dashboard read the same ones."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, ExpressionWrapper, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from bots.models import OPEN_ORDER_STATUSES, Bot, Fill, Order, Position

ZERO = Decimal("0")
MONEY = DecimalField(max_digits=38, decimal_places=18)


def bot_metrics(*, bot: Bot, now: dt.datetime | None = None) -> dict[str, Any]:
    """PnL, open orders, fills and the last 24 hours' traded volume of one bot.

    Unrealized PnL marks each open position at the bot's last fill price in that symbol (the last
    price the bot traded at); a position with no fill to mark it counts zero. Volume is quote
    value (price x amount) of the fills since `now` - 24 h.
    """
    now = now or timezone.now()
    last_price = Subquery(
        Fill.objects.filter(bot_id=OuterRef("bot_id"), symbol=OuterRef("symbol"))
        .order_by("-ts", "-id")
        .values("price")[:1],
        output_field=MONEY,
    )
    positions = (
        Position.objects.filter(bot_id=bot.pk)
        .annotate(mark=last_price)
        .annotate(
            open_pnl=ExpressionWrapper(
                (Coalesce(F("mark"), F("average_entry_price")) - F("average_entry_price")) * F("quantity"),
                output_field=MONEY,
            )
        )
        .aggregate(
            realized=Coalesce(Sum("realized_pnl"), Value(ZERO), output_field=MONEY),
            unrealized=Coalesce(Sum("open_pnl", filter=Q(closed_at__isnull=True)), Value(ZERO), output_field=MONEY),
            fees=Coalesce(Sum("fees_paid"), Value(ZERO), output_field=MONEY),
            funding=Coalesce(Sum("funding"), Value(ZERO), output_field=MONEY),
            open_positions=Count("id", filter=Q(closed_at__isnull=True) & ~Q(quantity=0)),
        )
    )
    orders = Order.objects.filter(bot_id=bot.pk).aggregate(
        total=Count("id"), open=Count("id", filter=Q(status__in=OPEN_ORDER_STATUSES))
    )
    since = now - dt.timedelta(hours=24)
    fills = Fill.objects.filter(bot_id=bot.pk).aggregate(
        total=Count("id"),
        volume_24h=Coalesce(
            Sum(ExpressionWrapper(F("price") * F("amount"), output_field=MONEY), filter=Q(ts__gte=since)),
            Value(ZERO),
            output_field=MONEY,
        ),
    )
    realized, unrealized = positions["realized"], positions["unrealized"]
    return {
        "bot": bot.pk,
        "realized_pnl": realized,
        "unrealized_pnl": unrealized,
        "total_pnl": realized + unrealized + positions["funding"],
        "fees_paid": positions["fees"],
        "funding": positions["funding"],
        "open_positions": positions["open_positions"],
        "orders_count": orders["total"],
        "open_orders": orders["open"],
        "fills_count": fills["total"],
        "volume_24h": fills["volume_24h"],
        "as_of": now,
    }
