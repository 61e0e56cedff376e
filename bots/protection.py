"""Protective stop-loss and take-profit resting on the exchange as trigger orders.

A perpetual position is only as safe as its stop. A stop the worker watches dies with the
worker, so where the exchange takes trigger orders (the paper exchange's perps, Hyperliquid,
Binance USD-M, Bybit) the bot keeps one reduce-only stop-loss and one take-profit order there for
its whole open position:

- the levels are the strategy's own (an entry intent's `stop_loss` / `take_profit` prices,
  remembered in the bot's state) or else the risk limits' default percentages from the average
  entry price;
- after every tick that changed the position (a fill, a partial close, an averaging entry) the
  orders are replaced to cover the new quantity at the new levels; an unchanged position sends
  nothing;
- when the position is gone, what is left of them is canceled.

The orders are the runtime's, not the strategy's: the strategy does not see them among its open
orders and the risk check does not count them as working exits. Where the exchange cannot hold a
trigger order the risk engine's `protective_exit` keeps watching the price each tick, as for spot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from bots.models import Bot, Order
from core.errors import ApplicationError
from core.events import EventLevel
from core.fields import MONEY_DECIMAL_PLACES
from exchanges.errors import ExchangeError

logger = logging.getLogger(__name__)
ZERO = Decimal("0")
HUNDRED = Decimal("100")
STORED = Decimal(1).scaleb(-MONEY_DECIMAL_PLACES)  # what a money column keeps
TAGS = {"sl": "protect-sl", "tp": "protect-tp"}
PREFIX = "protect-"


def is_protective(order: Order) -> bool:
    return order.trigger_price is not None and order.tag.startswith(PREFIX)


@dataclass(frozen=True)
class Wanted:
    kind: str  # "sl" | "tp"
    side: str
    amount: Decimal
    trigger_price: Decimal


def levels_remember(state: dict, *, stop_loss: Decimal | None, take_profit: Decimal | None) -> None:
    """An entry's own protective prices, kept until the position closes."""
    levels = {k: str(v) for k, v in (("sl", stop_loss), ("tp", take_profit)) if v is not None and v > 0}
    if levels:
        state["protect_levels"] = levels


def wanted_orders(
    *,
    quantity: Decimal,
    average_entry: Decimal,
    levels: dict[str, str] | None,
    stop_pct: Decimal | None,
    take_pct: Decimal | None,
) -> list[Wanted]:
    """The trigger orders that protect a position of signed `quantity` (long > 0): a stop below
    and a take-profit above the entry for a long, the other way round for a short. A strategy
    level on the wrong side of the entry (a stop above a long's entry) is ignored for the
    default, since it would fire at once."""
    if quantity == 0 or average_entry <= 0:
        return []
    long = quantity > 0
    side = "sell" if long else "buy"
    amount = abs(quantity)
    out = []
    for kind, pct in (("sl", stop_pct), ("tp", take_pct)):
        price = Decimal(levels[kind]) if levels and kind in levels else None
        # A stop must sit on the losing side of the entry, a take-profit on the winning side.
        below = (kind == "sl") == long
        if price is not None and (price >= average_entry if below else price <= average_entry):
            price = None
        if price is None and pct is not None and pct > 0:
            offset = average_entry * pct / HUNDRED
            price = average_entry - offset if below else average_entry + offset
        if price is not None and price > 0:
            out.append(Wanted(kind=kind, side=side, amount=amount, trigger_price=price.quantize(STORED)))
    return out


@dataclass
class Synced:
    """What a sync did: the events to record as (kind, message, level), and the position it
    protected."""

    events: list[tuple[str, str, str]]
    quantity: Decimal = ZERO
    average_entry: Decimal = ZERO


def protection_sync(
    *,
    bot: Bot,
    gateway,
    state: dict,
    stop_pct: Decimal | None,
    take_pct: Decimal | None,
    tick_no: int,
) -> Synced:
    """Make the bot's resting trigger orders match its open position. A refusal by the exchange
    is an error event, and the risk engine's in-process stop stays the fallback until the
    position changes and it is tried again."""
    from bots.orders import PlacementIntent, order_cancel, orders_place

    position = bot.positions.filter(closed_at__isnull=True).only("quantity", "average_entry_price").first()
    quantity = position.quantity if position else ZERO
    average = position.average_entry_price if position else ZERO
    done = Synced([], quantity, average)
    if not gateway.client.trigger_orders(bot.symbol):
        return done
    if quantity == 0 and Decimal((state.get("protect_sig") or ["0"])[0]) != 0:
        state.pop("protect_levels", None)  # the position they were for has closed
    wanted = wanted_orders(
        quantity=quantity,
        average_entry=average,
        levels=state.get("protect_levels"),
        stop_pct=stop_pct,
        take_pct=take_pct,
    )
    resting = list(
        Order.objects.filter(bot=bot, tag__startswith=PREFIX, trigger_price__isnull=False, closed_at__isnull=True)
        .exclude(status__in=("filled", "canceled", "rejected", "expired"))
        .order_by("pk")
    )
    keep: set[int] = set()
    missing: list[Wanted] = []
    for want in wanted:
        match = next(
            (
                o
                for o in resting
                if o.pk not in keep
                and o.trigger_kind == want.kind
                and o.side == want.side
                and o.amount - o.filled == want.amount
                and o.trigger_price == want.trigger_price
            ),
            None,
        )
        if match is not None:
            keep.add(match.pk)
        else:
            missing.append(want)
    events = done.events
    for order in resting:
        if order.pk in keep:
            continue
        try:
            order_cancel(order=order, gateway=gateway)
        except ExchangeError as exc:
            events.append(
                ("protection.cancel_failed", f"Could not cancel the old {order.tag}: {exc.message}", EventLevel.WARNING)
            )
            return done  # do not stack a second stop on top of one still resting
    if not missing:
        return done
    intents = [
        PlacementIntent(
            symbol=bot.symbol,
            side=w.side,
            type="market",
            amount=w.amount,
            bot=bot,
            intent_key=f"t{tick_no}:{TAGS[w.kind]}:{w.amount}:{w.trigger_price}",
            tag=TAGS[w.kind],
            reduce_only=True,
            trigger_price=w.trigger_price,
            trigger_kind=w.kind,
        )
        for w in missing
    ]
    try:
        placed = orders_place(account=bot.exchange_account, intents=intents, gateway=gateway)
    except ApplicationError as exc:
        events.append(("protection.refused", f"No protective order placed: {exc.message}", EventLevel.ERROR))
        return done
    for order in placed:
        if order.status == "rejected":
            events.append(
                (
                    "protection.refused",
                    f"The exchange refused the {order.tag} at {order.trigger_price}: {order.reason}",
                    EventLevel.ERROR,
                )
            )
        else:
            label = "stop-loss" if order.trigger_kind == "sl" else "take-profit"
            events.append(
                (
                    "protection.placed",
                    f"{label.capitalize()} resting on the exchange: {order.side} {order.amount} "
                    f"when the price reaches {order.trigger_price}.",
                    EventLevel.INFO,
                )
            )
    return done
