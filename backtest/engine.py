"""The backtester: a registered strategy run bar by bar over candle arrays.

No database access and no I/O: it takes `Bars` (numpy arrays) and answers with plain data. Each decision goes
through the same code as a live tick:

- the strategy's own `spec.decide(Context)`, given the closed candles its warm-up asks for (views
  into the arrays, never copies), the last close as the quote, the position, the working orders
  and its memory from the last decision; a strategy with a `prepare` gets its indicators computed
  once over the whole history and read at each bar through `ctx.signals` (a live tick prepares
  its warm-up window instead; `prepare` gives each bar the same value either way);
- `risk.engine.check_batch` on every intent (plus `protective_exit` when default stop-loss or
  take-profit limits are set);
- `exchanges.fill_model` for every fill: market and marketable limit orders fill at once at the
  next price (the next candle's open), resting limit orders on a later candle that trades through
  their price, at most the participation share of its volume;
- `bots.positions.apply_fill` for the position (average cost, realized PnL, fees).

Time runs on candle closes: the decision after candle `i` happens at `ts[i] + step`, sees candles
up to `i`, and resting orders are matched against candle `i` just before it (as a paper bot syncs
its orders before deciding). On spot, as on the paper exchange, a buy needs the quote to pay for
it (resting buys reserve theirs), a sell needs the base. An order that cannot be paid for is
refused, as the exchange would refuse it.

With `perp` terms the symbol is a linear perpetual booked by `PerpLedger` as the paper exchange
books one: an entry needs its initial margin (else it is refused as "margin_refused"), a sell
beyond the position opens a short, an exit intent is reduce-only, and every candle the position
is held over is settled for funding and liquidation, skipped candles included (in one stretch
between funding times).

Candles on which nothing can happen are skipped: with no order working, a flat strategy is asked
only on the bars its `wake_flat` column marks, a holding one only on its `wake_holding` bars (when
it has that column and no default stop-loss or take-profit must be watched). Everything else is
decided on every candle. `series=False` turns both off and decides every candle on its own window,
exactly as a live tick would (the tests compare the two).

Money stays Decimal in the ledger; the per-candle equity curve is computed at the end with numpy
from the cash and position held between fills.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from backtest.ledger import (
    FillRecord,
    FundingRecord,
    Ledger,
    LiquidationRecord,
    PerpLedger,
    PerpTerms,
    TradeRecord,
    Working,
)
from backtest.ledger import dec as _dec
from exchanges.fill_model import FillTerms, is_marketable, maker_fill, taker_fill
from risk import engine as risk
from strategies.base import Bars, Context, Decision, OpenOrder, OrderIntent, PositionView, Quote, Signals
from strategies.registry import StrategySpec

ZERO = Decimal("0")


@dataclass
class BacktestOutcome:
    """What a run produced: round trips, fills, the per-candle equity (float, for statistics and
    charts), the final ledger in Decimal, and counters; on a perpetual also the funding payments,
    the liquidations and the margin still posted."""

    trades: list[TradeRecord]
    fills: list[FillRecord]
    equity_ts: np.ndarray
    equity: np.ndarray
    capital: Decimal
    final_cash: Decimal
    final_quantity: Decimal
    final_equity: Decimal
    bars: int
    decisions: int
    rejected: dict[str, int] = field(default_factory=dict)
    perp: PerpTerms | None = None
    final_margin: Decimal = ZERO
    funding: list[FundingRecord] = field(default_factory=list)
    funding_total: Decimal = ZERO
    liquidations: list[LiquidationRecord] = field(default_factory=list)


def _fast(cls: type, **values: Any) -> Any:
    """A frozen dataclass instance without running its generated __init__ (each field goes through
    object.__setattr__ there, which costs more per candle than the rest of the loop)."""
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def run_backtest(
    *,
    spec: StrategySpec,
    params: Mapping[str, Any],
    bars: Bars,
    symbol: str,
    step_ms: int,
    capital: Decimal = Decimal("1000"),
    terms: FillTerms | None = None,
    limits: risk.Limits | None = None,
    start_index: int = 0,
    progress: Callable[[int], None] | None = None,
    series: bool = True,
    perp: PerpTerms | None = None,
) -> BacktestOutcome:
    """Run `spec` with typed `params` over `bars`. Decisions start once the warm-up is covered and
    not before candle `start_index` (earlier candles only feed the indicators). `progress` is
    called with 0-100 now and then. `series=False` decides every candle from its own warm-up
    window, as a live tick does, without the prepared indicators or skipping. `perp` trades the
    symbol as a linear perpetual on those terms (spot without it)."""
    terms = terms or FillTerms()
    limits = limits or risk.Limits()
    protective = limits.default_stop_loss_pct is not None or limits.default_take_profit_pct is not None
    n = len(bars)
    need = spec.warmup_bars(dict(params))
    first = max(need - 1, start_index, 0)
    ts_a, open_a, high_a, low_a, close_a, vol_a = bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume
    ts_list = ts_a.tolist()
    close_list = close_a.tolist()
    low_list = low_a.tolist()
    high_list = high_a.tolist()
    vol_list = vol_a.tolist()
    decide = spec.decide
    if perp is None:
        ledger: Ledger = Ledger(capital, terms)
    else:
        ledger = PerpLedger(capital, terms, perp, ts=ts_a, high=high_a, low=low_a, close=close_a, step_ms=step_ms)
    state: Mapping[str, Any] = {}
    empty = Bars.empty()
    flat = PositionView()
    decisions = 0
    rejected: dict[str, int] = {}
    span = max(1, n - first)
    next_report = first
    reported = -1
    view: PositionView = flat
    open_views: tuple[OpenOrder, ...] = ()
    columns = spec.prepare(bars, params) if series and spec.prepare is not None else None
    wake_flat = _next_awake(columns, "wake_flat", n)
    wake_holding = None if protective else _next_awake(columns, "wake_holding", n)

    i = first - 1
    while True:
        i += 1
        if not ledger.working and i < n:
            # No order to match: jump to the next candle the strategy can act on.
            jump = wake_flat if view.is_flat else wake_holding
            if jump is not None:
                i = jump[i]
        if perp is not None and ledger.settled < min(i, n):
            # Funding and liquidation over the candles jumped over (no order was working there).
            hit = ledger.settle(ledger.settled, min(i, n) - 1)
            if hit is not None:
                view, open_views = _views(ledger)
                i = hit if wake_flat is None or ledger.working else wake_flat[hit]
        if progress is not None and i >= next_report:
            # Every percent passed is reported, the skipped candles' too, so progress moves evenly.
            done = min(99, int((min(i, n) - first) * 100 / span))
            for pct in range(reported + 1, done + 1):
                progress(pct)
            reported = max(reported, done)
            next_report = i + max(1, span // 100)
        if i >= n:
            break
        now_ms = ts_list[i] + step_ms
        if ledger.working:
            if _match(ledger, i, now_ms, high_list[i], low_list[i], vol_list[i]):
                view, open_views = _views(ledger)
                if perp is not None:
                    # As on the paper exchange, a candle in which a resting order filled is not
                    # settled: where in its range the fill came is unknown.
                    ledger.settled = max(ledger.settled, i + 1)
        if perp is not None and ledger.settled <= i and ledger.settle(i, i) is not None:
            view, open_views = _views(ledger)
        if need:
            lo = i + 1 - need
            window = _fast(
                Bars,
                ts=ts_a[lo : i + 1],
                open=open_a[lo : i + 1],
                high=high_a[lo : i + 1],
                low=low_a[lo : i + 1],
                close=close_a[lo : i + 1],
                volume=vol_a[lo : i + 1],
            )
        else:
            window = empty
        last = _dec(close_list[i])
        ctx = _fast(
            Context,
            now_ms=now_ms,
            symbol=symbol,
            params=params,
            bars=window,
            quote=_fast(Quote, bid=last, ask=last, last=last),
            position=view,
            open_orders=open_views,
            state=state,
            capital=capital,
            second=None,
            signals=None if columns is None else Signals(columns, i),
        )
        decision: Decision = decide(ctx)
        decisions += 1
        if decision.state is not None:
            state = dict(decision.state)
        intents = decision.intents
        if not intents and not decision.cancel and not protective:
            continue
        changed = _act(
            ledger,
            decision,
            list(intents),
            index=i,
            now_ms=now_ms,
            last=last,
            reference=_dec(open_a[i + 1]) if i + 1 < n else last,
            symbol=symbol,
            limits=limits,
            protective=protective,
            rejected=rejected,
            close=close_a,
        )
        if changed:
            view, open_views = _views(ledger)

    if progress is not None:
        progress(100)
    mark = _dec(close_list[-1]) if n else ZERO
    ledger.finish(mark)
    cash_path, qty_path = _paths(ledger, n)
    equity = cash_path + qty_path * close_a
    quantity = ledger.position.quantity
    extra: dict[str, Any] = {}
    if perp is not None:
        extra = {
            "perp": perp,
            "final_margin": ledger.margin,
            "funding": ledger.funding,
            "funding_total": ledger.funding_total,
            "liquidations": ledger.liquidations,
        }
    return BacktestOutcome(
        trades=ledger.trades,
        fills=ledger.fills,
        equity_ts=ts_a[first:] + step_ms,
        equity=equity[first:],
        capital=capital,
        final_cash=ledger.cash,
        final_quantity=quantity,
        final_equity=ledger.equity(mark),
        bars=max(0, n - first),
        decisions=decisions,
        rejected=rejected,
        **extra,
    )


def _next_awake(columns: Mapping[str, np.ndarray] | None, name: str, n: int) -> list[int] | None:
    """For each candle, the first candle at or after it that the column marks awake (n when none),
    or None when the strategy has no such column."""
    if columns is None or name not in columns:
        return None
    awake = np.asarray(columns[name], dtype=bool)
    at = np.where(awake, np.arange(n), n)
    return [*np.minimum.accumulate(at[::-1])[::-1].tolist(), n]


def _paths(ledger: Ledger, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Cash and quantity held at each candle's close, from the changes the fills made."""
    at = np.asarray(ledger.change_at, dtype=np.int64)
    counts = np.diff(np.append(at, n))
    cash = np.repeat(np.asarray(ledger.change_cash), counts)
    qty = np.repeat(np.asarray(ledger.change_qty), counts)
    return cash, qty


def _views(ledger: Ledger) -> tuple[PositionView, tuple[OpenOrder, ...]]:
    p = ledger.position
    view = PositionView(p.quantity, p.average_price) if p.quantity else PositionView()
    return view, tuple(w.view() for w in ledger.working)


def _match(ledger: Ledger, index: int, now_ms: int, high: float, low: float, volume: float) -> bool:
    """Fill the resting orders one candle trades through. True when anything filled."""
    touched = False
    for w in list(ledger.working):
        # A cheap float test first: most candles come nowhere near a resting price.
        if (w.side == "buy" and low > float(w.price)) or (w.side == "sell" and high < float(w.price)):
            continue
        fill = maker_fill(
            side=w.side,
            price=w.price,
            remaining=w.amount - w.filled,
            high=_dec(high),
            low=_dec(low),
            volume=_dec(volume),
            terms=ledger.terms,
        )
        if fill is None:
            continue
        touched = True
        fill = ledger.consume(w, fill)
        if fill is None:  # a reduce-only order with nothing left to reduce is cancelled
            ledger.release(w)
            ledger.working.remove(w)
            continue
        w.filled += fill.amount
        ledger.book(index=index, ts_ms=now_ms, side=w.side, fill=fill, tag=w.tag)
        if w.filled >= w.amount:
            ledger.release(w)
            ledger.working.remove(w)
    return touched


def _exposure(ledger: Ledger, now_ms: int, last: Decimal, index: int, close: np.ndarray) -> risk.Exposure:
    """The risk check's view, built as the live tick builds it: position, working orders, today's
    PnL and orders, equity against its peak, the loss streak."""
    p = ledger.position
    ledger.roll_day(now_ms)
    unrealized = (last - p.average_price) * p.quantity if p.quantity else ZERO
    equity = ledger.capital + ledger.realized_net + unrealized
    peak = _peak(ledger, index, close, equity)
    perp = {}
    if ledger.perp:
        perp = {"leverage": ledger.market.leverage, "maintenance_rate": ledger.mmr}
    return risk.Exposure(
        now_ms=now_ms,
        last_price=last,
        position_qty=p.quantity,
        position_avg_price=p.average_price,
        open_orders=len(ledger.working),
        open_buy_qty=sum((w.amount - w.filled for w in ledger.working if w.side == "buy"), ZERO),
        open_sell_qty=sum((w.amount - w.filled for w in ledger.working if w.side == "sell"), ZERO),
        daily_pnl=ledger.day_realized + unrealized,
        daily_trades=ledger.day_trades,
        equity=equity,
        equity_peak=peak,
        consecutive_losses=ledger.losses,
        last_loss_ms=ledger.last_loss_ms,
        kill_switch=False,
        degraded=False,
        **perp,
    )


def _peak(ledger: Ledger, index: int, close: np.ndarray, equity: Decimal) -> Decimal:
    """The highest equity at any candle close so far (the live tick tracks it tick by tick),
    brought up to date over the candles not counted yet, one stretch between fills at a time."""
    at, cash, qty = ledger.change_at, ledger.change_cash, ledger.change_qty
    lo, best = ledger.peak_upto, ledger.peak
    k = max(0, bisect.bisect_right(at, lo) - 1)
    while k < len(at) and at[k] <= index:
        a = max(at[k], lo)
        b = min(at[k + 1] if k + 1 < len(at) else index + 1, index + 1)
        if b > a:
            stretch = close[a:b]
            held = qty[k]
            best = max(best, cash[k] + held * float(stretch.max() if held >= 0 else stretch.min()))
        k += 1
    ledger.peak, ledger.peak_upto = best, max(lo, index + 1)
    return max(equity, _dec(best))


def _act(
    ledger: Ledger,
    decision: Decision,
    intents: list[OrderIntent],
    *,
    index: int,
    now_ms: int,
    last: Decimal,
    reference: Decimal,
    symbol: str,
    limits: risk.Limits,
    protective: bool,
    rejected: dict[str, int],
    close: np.ndarray,
) -> bool:
    """Cancels, the risk check and the fills of one decision. True when the ledger changed."""
    changed = False
    if decision.cancel:
        wanted = set(decision.cancel)
        for w in [w for w in ledger.working if w.cid in wanted]:
            ledger.release(w)
            ledger.working.remove(w)
            changed = True
    exposure = _exposure(ledger, now_ms, last, index, close)
    if protective:
        exit_ = risk.protective_exit(limits, exposure, symbol)
        if exit_ is not None and not any(i.exit for i in intents):
            intents.append(OrderIntent(side=exit_.side, amount=exit_.amount, tag="protect", exit=True))
    if not intents:
        return changed
    proposals = [
        risk.Proposal(symbol=symbol, side=i.side, type=i.type, amount=i.amount, price=i.price) for i in intents
    ]
    for intent, verdict in zip(intents, risk.check_batch(proposals, limits, exposure), strict=True):
        if not verdict.approved:
            rejected[verdict.code] = rejected.get(verdict.code, 0) + 1
            continue
        refused = _place(ledger, intent, index=index, now_ms=now_ms, reference=reference)
        if refused is None:
            changed = True
            ledger.day_trades += 1
        else:
            rejected[refused] = rejected.get(refused, 0) + 1
    return changed


def _place(ledger: Ledger, intent: OrderIntent, *, index: int, now_ms: int, reference: Decimal) -> str | None:
    """Send one order to the simulated exchange: fill it at once or rest it. The refusal code when
    the account cannot pay for it (the paper exchange refuses such an order), else None."""
    terms = ledger.terms
    if intent.side not in ("buy", "sell") or intent.type not in ("market", "limit") or intent.amount <= 0:
        return "insufficient_funds"
    if is_marketable(side=intent.side, type=intent.type, price=intent.price, reference=reference):
        fill = taker_fill(
            side=intent.side,
            type=intent.type,
            amount=intent.amount,
            price=intent.price,
            reference=reference,
            terms=terms,
        )
        refused = ledger.refusal(side=intent.side, fill=fill, exit=intent.exit)
        if refused is not None:
            return refused
        # The fill lands on the next candle; its cash and position count from there on.
        ledger.book(index=index + 1, ts_ms=now_ms, side=intent.side, fill=fill, tag=intent.tag)
        return None
    reserve, refused = ledger.reserve(side=intent.side, price=intent.price, amount=intent.amount, exit=intent.exit)
    if refused is not None:
        return refused
    ledger.working.append(
        Working(
            cid=ledger.next_cid(intent.tag or intent.side),
            side=intent.side,
            type=intent.type,
            amount=intent.amount,
            price=intent.price,
            tag=intent.tag,
            created_ms=now_ms,
            reserved=reserve,
            exit=intent.exit,
        )
    )
    return None
