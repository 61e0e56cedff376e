"""Building contexts and reading signals in the strategy tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from strategies.base import Bars, Context, OpenOrder, PositionView, Quote, to_decimal
from strategies.registry import get, validate_params
from tests.strategies.replay import STEP_MS, Result, load_bars, replay, window

EPS = 1e-9


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def listing(result: Result) -> list[str]:
    """Signals as `"<bar open time> <side> <tag>"` lines."""
    return [f"{iso(s.ts)} {s.side} {s.tag}" for s in result.signals]


def run(key: str, overrides: dict[str, Any] | None = None, **kwargs: Any) -> Result:
    """Replay a registered strategy with validated params over the bundled BTC/USDT 5m candles."""
    spec = get(key)
    params = validate_params(key, overrides or {})
    kwargs.setdefault("size", max(spec.warmup_bars(params), 2))
    return replay(spec.decide, kwargs.pop("bars", load_bars()), params, **kwargs)


def context(
    key: str,
    end: int,
    overrides: dict[str, Any] | None = None,
    *,
    bars: Bars | None = None,
    size: int | None = None,
    quantity: Decimal = Decimal(0),
    average: Decimal = Decimal(0),
    open_orders: tuple[OpenOrder, ...] = (),
    state: dict[str, Any] | None = None,
    last: Decimal | None = None,
) -> Context:
    """The context a strategy sees once bar `end` of the BTC/USDT candles has closed."""
    spec = get(key)
    params = validate_params(key, overrides or {})
    bars = load_bars() if bars is None else bars
    size = max(spec.warmup_bars(params), 2) if size is None else size
    price = to_decimal(bars.close[end]) if last is None else last
    return Context(
        now_ms=int(bars.ts[end]) + STEP_MS,
        symbol="BTC/USDT",
        params=params,
        bars=window(bars, end, size),
        quote=Quote(price, price, price),
        position=PositionView(quantity, average),
        open_orders=open_orders,
        state=state or {},
    )


def index_of(bars: Bars, ts: int) -> int:
    return int((bars.ts == ts).nonzero()[0][0])


def open_order(side: str, tag: str, *, amount: str = "0.001", price: str | None = None, created_ms: int = 0):
    return OpenOrder(
        client_order_id=f"id-{tag}",
        side=side,
        type="limit" if price else "market",
        amount=Decimal(amount),
        filled=Decimal(0),
        price=Decimal(price) if price else None,
        tag=tag,
        created_ms=created_ms,
    )
