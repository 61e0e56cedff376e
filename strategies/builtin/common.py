"""Small helpers the built-in strategies share: order intents for long-only spot trading,
open-order checks and the volume ratio."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from strategies.base import Bars, Context, OrderIntent, quantize_amount


def buy_for_quote(ctx: Context, order_quote: Decimal, *, tag: str) -> OrderIntent | None:
    """A market buy spending `order_quote` at the last price, or None when it rounds to nothing."""
    price = ctx.quote.last
    if price <= 0:
        return None
    amount = quantize_amount(order_quote / price)
    return OrderIntent("buy", amount, tag=tag) if amount > 0 else None


def sell_all(ctx: Context, *, tag: str) -> OrderIntent | None:
    """A market sell of the whole long position (an exit), or None when nothing is held."""
    amount = quantize_amount(ctx.position.quantity)
    return OrderIntent("sell", amount, tag=tag, exit=True) if amount > 0 else None


def has_open(ctx: Context, side: str) -> bool:
    """Whether one of the bot's orders on `side` is still working."""
    return any(o.side == side for o in ctx.open_orders)


def volume_ratio(volume: np.ndarray, period: int) -> float:
    """The last bar's volume over the mean volume of the `period` bars before it (0 when unknown)."""
    if len(volume) < period + 1:
        return 0.0
    mean = float(np.mean(volume[-period - 1 : -1]))
    return float(volume[-1]) / mean if mean > 0 else 0.0


def last_ts(bars: Bars) -> int:
    """Open time of the last closed bar, in ms (-1 when there is none)."""
    return int(bars.ts[-1]) if len(bars) else -1


def is_finite(*values: float) -> bool:
    return all(np.isfinite(v) for v in values)
