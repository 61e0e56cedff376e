"""The stored signals a tick gives a strategy that reads them (`StrategySpec.uses_signals`).

The strategy stays pure: this selector reads the rows and hands over plain `SignalView`s. The
signals are the bot's organization's only, valid now (wall-clock time: signals are stored in it),
from enabled sources, for the bot's symbol (a perpetual's `BTC/USDT:USDT` also reads `BTC/USDT`)
and, when the params name one, its timeframe; newest first, at most `LIMIT` of them, in one query.
The exchange a signal was computed on is not compared: a signal is about the market.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from bots.models import Bot
from signals.models import Signal
from strategies.base import SignalView

LIMIT = 50


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def market_signals_for_bot(*, bot: Bot, params: Mapping[str, Any], now: dt.datetime) -> tuple[SignalView, ...]:
    """The bot's organization's valid signals for its symbol, newest first (see the module)."""
    symbols = {bot.symbol, bot.symbol.split(":", 1)[0]}
    rows = (
        Signal.objects.for_organization(bot.organization_id)
        .valid_at(now)
        .filter(symbol__in=symbols, source__enabled=True)
    )
    if params.get("timeframe", "any") != "any":
        rows = rows.filter(timeframe=params["timeframe"])
    rows = rows.order_by("-created_at", "-id").values_list(
        "id",
        "source_id",
        "source__weight",
        "side",
        "confidence",
        "kind",
        "created_at",
        "valid_until",
        "price",
        "timeframe",
    )[:LIMIT]
    return tuple(
        SignalView(
            signal_id=pk,
            source_id=source_id,
            source_weight=weight,
            side=side,
            confidence=confidence,
            kind=kind,
            created_ms=_ms(created),
            valid_until_ms=_ms(valid_until),
            price=price,
            timeframe=timeframe,
        )
        for pk, source_id, weight, side, confidence, kind, created, valid_until, price, timeframe in rows
    )
