"""Backtester throughput against backtrader (and backtesting.py), and the chart query.

Backtests: `macd_trend` and `rsi_bb_atr` with their default parameters over the real Binance 5m
candles of 8 pairs (the full files in ../shared/data/market, about 526,000 candles; the bundled
6-week files in data/market when those are absent), 10,000 USDT each, 0.1% fee, 0.05% slippage on
market orders. Our backtester runs the registered strategies (`spec.prepare` once per pair, then
`spec.decide` on the candles where something can happen), the risk check and the paper fill
model. backtrader runs the same rules, written below as backtrader strategies on backtrader's
data feed and broker (market orders at the next open, the same slippage and commission);
backtesting.py the same again (prices per 1e-8 base unit, because it trades whole units). The
peers compute the indicators when their run starts, over the whole series, with TA-Lib (pandas for
the volume mean), and read them candle by candle, as their users write strategies; the 1h trend
EMA is computed over each candle's own 80 hourly closes, as the rule defines it. Their decisions
are compared fill by fill with ours.

- bars_per_s / <strategy>_bars_per_s: candles per second of wall time over all pairs (run only,
  data loaded beforehand); the same for backtrader (`cerebro.run()`, which includes its data
  feed's preload) and backtesting.py (`Backtest.run()`).
- speedup_vs_backtrader: our candles/s over backtrader's, both strategies together.
- trades_match: every fill (pair, time, side, amount) of both strategies equal in our run and in
  backtrader's; fills / backtrader_fills count them; price_max_rel_diff is the largest relative
  gap of the fill prices (floats in the peers, Decimal in ours). backtesting_trades_match likewise.
- strategy_us_per_bar: time inside our strategies' `prepare` and `decide` per candle;
  peer_rules_us_per_bar: the same for the peers' rule code below; engine_us_per_bar,
  backtrader_engine_us_per_bar, backtesting_engine_us_per_bar: what each engine spends per
  candle around its rules (its run time minus the time in the rules, timed in the same run).
  Ours decides only on the candles a strategy's wake columns mark (and every candle with an order
  working); decisions_per_bar is the share of candles it decided on. The peers' engines call
  their strategies on every candle.
- backtesting.py applies its spread when a trade opens only, so its exit prices sit 0.05% away
  from ours and backtrader's; times, sides and amounts are compared as for backtrader.
- perp_*: the same two strategies on the same candles traded as linear perpetuals
  (`BTC/USDT:USDT` on the BTC/USDT candles), 3x isolated, funding 0.01% every 8 hours, the
  maintenance rate of a 50x market: perp_bars_per_s (and per strategy), perp_backtrader_bars_per_s
  and perp_speedup_vs_backtrader (backtrader trading the same rules with the same leverage, its
  broker's `leverage`, and the same funding, added to its cash at each funding time a candle
  crosses; perp_backtrader_funding_payments counts them), perp_engine_us_per_bar, perp_fills and
  perp_fills_match_spot (the strategies size entries by quote, so leverage changes the margin,
  not the fills), perp_funding_payments, perp_funding_total, perp_liquidations,
  perp_margin_refused, and perp_net_pnl next to the spot net_pnl (final equity minus capital, all
  runs together: they differ by the funding).
- chart_query_ms: `analytics.selectors.series(bot, start, end, 500)` over 525,600 one-minute
  metric snapshots of one bot (a year), median of 7 warm runs on PostgreSQL; chart_points is how
  many points it returned.
Prints one JSON line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import json
import os
import statistics
import sys
import time
import warnings
from decimal import ROUND_DOWN, Decimal

import numpy as np
from _django import ROOT, setup

setup()

import backtrader as bt  # noqa: E402
import pandas as pd  # noqa: E402
import talib  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from analytics.models import MetricSnapshot  # noqa: E402
from backtest.data import bars_from_rows  # noqa: E402
from backtest.engine import run_backtest  # noqa: E402
from backtest.ledger import PerpTerms  # noqa: E402
from bots.models import Bot  # noqa: E402
from exchanges.fill_model import FillTerms  # noqa: E402
from exchanges.models import ExchangeAccount  # noqa: E402
from organizations.models import Organization  # noqa: E402
from strategies.registry import get as get_strategy  # noqa: E402
from strategies.registry import validate_params  # noqa: E402

STEP = 300_000
CAPITAL = Decimal("10000")
FEE = Decimal("0.001")
SLIPPAGE = Decimal("0.0005")
STRATEGIES = ("macd_trend", "rsi_bb_atr")
FULL = ROOT.parent / "shared" / "data" / "market"
BUNDLED = ROOT / "data" / "market"
PERP = PerpTerms(
    leverage=Decimal("3"),
    margin_mode="isolated",
    funding_rate=Decimal("0.0001"),
    funding_interval_hours=8,
    max_leverage=Decimal("50"),
)
PAIRS = int(os.environ.get("BENCH_PAIRS", "8"))
SNAPSHOTS = int(os.environ.get("BENCH_SNAPSHOTS", "525600"))
E8 = Decimal("1e-8")


def load_pairs() -> list[tuple[str, list]]:
    files = sorted(FULL.glob("*_USDT-5m.json")) or sorted(BUNDLED.glob("*_USDT-5m.json.gz"))
    pairs = []
    for path in files[:PAIRS]:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as handle:
            rows = json.load(handle)
        pairs.append((path.name.split("-")[0].replace("_", "/"), rows))
    return pairs


# -- the rules, for the peers -----------------------------------------------------------------------
def dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def to_decimal8(value: float) -> Decimal:
    return dec(value).quantize(E8)


def amount_for(quote: Decimal, close: float) -> Decimal:
    return (quote / dec(close)).quantize(E8, rounding=ROUND_DOWN)


def finite(*values: float) -> bool:
    return all(np.isfinite(v) for v in values)


def mean_ratio(volume: np.ndarray, period: int) -> np.ndarray:
    """Each candle's volume over the mean of the `period` before it (0 where that is unknown)."""
    series = pd.Series(volume)
    mean = series.rolling(period).mean().shift(1)
    return (series / mean).where(mean > 0, 0.0).to_numpy()


class Rules:
    """One strategy's rules, written for the peers: the indicators of every candle computed once
    when the run starts (TA-Lib over the whole series, pandas for the volume mean, as a backtrader
    or backtesting.py user would), then `decide` answers "buy", "sell" or None for candle `i`,
    given whether a position is held and its average entry price."""

    spent = 0.0  # seconds in the rules, all instances together (the bench reads and resets it)

    def __init__(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        started = time.perf_counter()
        self.key = key
        self.p = p = validate_params(key, {})
        self.need = get_strategy(key).warmup_bars(self.p)
        self.a = a = arrays
        self.state: dict = {}
        high, low, close = a["high"], a["low"], a["close"]
        if key == "macd_trend":
            self.hist = talib.MACD(close, p["fast_period"], p["slow_period"], p["signal_period"])[2]
            self.trend = hourly_ema(close, p["trend_ema_period"], self.need // 12)
            self.vol = mean_ratio(a["volume"], p["volume_period"])
            self.atr = talib.ATR(high, low, close, 14)
            self.upper, self.middle, self.lower = talib.BBANDS(close, 20, 2.0, 2.0)
            self.adx = talib.ADX(high, low, close, 14)
        else:
            self.rsi_ = talib.RSI(close, p["rsi_period"])
            bb = float(p["bb_stddev"])
            self.lower = talib.BBANDS(close, p["bb_period"], bb, bb)[2]
            self.atr = talib.ATR(high, low, close, p["atr_period"])
            self.vol = mean_ratio(a["volume"], p["volume_period"])
        Rules.spent += time.perf_counter() - started

    def decide(self, i: int, holding: bool, avg: Decimal) -> str | None:
        started = time.perf_counter()
        action = self.macd(i, holding) if self.key == "macd_trend" else self.rsi(i, holding, avg)
        Rules.spent += time.perf_counter() - started
        return action

    def macd(self, i: int, holding: bool) -> str | None:
        p = self.p
        if i + 1 < self.need:
            return None
        close = self.a["close"][i]
        hist, before, ema = self.hist[i], self.hist[i - 1], self.trend[i]
        if not finite(hist, before, ema):
            return None
        up = before <= 0 < hist
        down = before >= 0 > hist
        trend = close > ema
        if holding:
            return "sell" if down or not trend else None
        if not (up and trend) or self.vol[i] < float(p["volume_surge"]):
            return None
        atr, upper, middle, lower, adx = self.atr[i], self.upper[i], self.middle[i], self.lower[i], self.adx[i]
        if not finite(atr, upper, middle, lower, adx) or middle <= 0:
            return None
        if p["atr_max_pct"] > 0 and atr / close * 100 > float(p["atr_max_pct"]):
            return None
        if p["bb_width_max_pct"] > 0 and (upper - lower) / middle * 100 > float(p["bb_width_max_pct"]):
            return None
        return "buy" if adx >= float(p["adx_min"]) else None

    def rsi(self, i: int, holding: bool, avg: Decimal) -> str | None:
        p, s = self.p, self.state
        a = self.a
        last = dec(a["close"][i])
        bar = int(a["ts"][i])
        if holding:
            if "stop" not in s or (avg > 0 and not s.get("anchored")):
                atr = s["atr"]
                ref = avg if avg > 0 else last
                s.update(stop=ref - p["stop_atr"] * atr, take=ref + p["take_profit_atr"] * atr, anchored=avg > 0)
            after = bar > s.get("bar", -1)
            if last <= s["stop"] or (after and to_decimal8(a["low"][i]) <= s["stop"]):
                return "sell"
            if last >= s["take"] or (after and to_decimal8(a["high"][i]) >= s["take"]):
                return "sell"
            return None
        for k in ("atr", "stop", "take", "anchored"):
            s.pop(k, None)
        if i + 1 < self.need or s.get("bar") == bar:
            return None
        rsi, lower, atr = self.rsi_[i], self.lower[i], self.atr[i]
        if not finite(rsi, lower, atr):
            return None
        if rsi > float(p["rsi_oversold"]) or a["close"][i] > lower:
            return None
        if self.vol[i] < float(p["volume_ratio"]):
            return None
        atr_d = to_decimal8(atr)
        s.update(bar=bar, atr=atr_d, stop=last - p["stop_atr"] * atr_d, take=last + p["take_profit_atr"] * atr_d)
        s["anchored"] = False
        return "buy"


def hourly_ema(close: np.ndarray, period: int, hours: int) -> np.ndarray:
    """The rule's 1h trend EMA at every 5m candle: TA-Lib's EMA(period) over the `hours` hourly
    closes ending on that candle (every 12th close back from it), seeded by their first `period`.
    Computed per residue class of the candle index modulo 12, windows as rows."""
    out = np.full(len(close), np.nan)
    k = 2.0 / (period + 1)
    for r in range(12):
        hourly = close[r::12]
        if len(hourly) < hours:
            continue
        rows = np.lib.stride_tricks.sliding_window_view(hourly, hours)
        ema = rows[:, 0].copy()
        for j in range(1, period):
            ema += rows[:, j]
        ema /= period
        for j in range(period, hours):
            ema = (rows[:, j] - ema) * k + ema
        out[r + 12 * (hours - 1) :: 12] = ema
    return out


def arrays_of(rows: list) -> dict[str, np.ndarray]:
    bars = bars_from_rows(rows)
    return {
        "ts": bars.ts,
        "open": bars.open,
        "high": bars.high,
        "low": bars.low,
        "close": bars.close,
        "volume": bars.volume,
    }


# -- ours -------------------------------------------------------------------------------------------
def run_ours(key: str, pairs: list, perp: PerpTerms | None = None) -> tuple[float, int, list, float, int, dict]:
    spent = [0.0]
    decide, prepare = get_strategy(key).decide, get_strategy(key).prepare

    def timed(ctx):
        started = time.perf_counter()
        decision = decide(ctx)
        spent[0] += time.perf_counter() - started
        return decision

    def timed_prepare(bars, params):
        started = time.perf_counter()
        columns = prepare(bars, params)
        spent[0] += time.perf_counter() - started
        return columns

    spec = dataclasses.replace(get_strategy(key), decide=timed, prepare=timed_prepare)
    params = validate_params(key, {})
    terms = FillTerms(taker_fee=FEE, maker_fee=FEE, slippage=SLIPPAGE)
    data = [(symbol, bars_from_rows(rows)) for symbol, rows in pairs]
    fills, candles, decisions = [], 0, 0
    figures = {"net_pnl": Decimal(0), "funding_payments": 0, "funding_total": Decimal(0), "liquidations": 0}
    figures["margin_refused"] = 0
    started = time.perf_counter()
    for symbol, bars in data:
        outcome = run_backtest(
            spec=spec,
            params=params,
            bars=bars,
            symbol=symbol if perp is None else f"{symbol}:{symbol.split('/')[1]}",
            step_ms=STEP,
            capital=CAPITAL,
            terms=terms,
            perp=perp,
        )
        candles += len(bars)
        decisions += outcome.decisions
        figures["net_pnl"] += outcome.final_equity - CAPITAL
        figures["funding_payments"] += len(outcome.funding)
        figures["funding_total"] += outcome.funding_total
        figures["liquidations"] += len(outcome.liquidations)
        figures["margin_refused"] += outcome.rejected.get("margin_refused", 0)
        # A fill at decision time T trades at the open of the first candle opening at or after T
        # (later than T after an exchange outage): named by that candle, as the peers name theirs.
        at = np.searchsorted(bars.ts, [f.ts_ms for f in outcome.fills])
        fills += [
            (symbol, int(bars.ts[k]), f.side, f.amount, float(f.price))
            for f, k in zip(outcome.fills, at, strict=True)
            if k < len(bars)
        ]
    return time.perf_counter() - started, candles, fills, spent[0], decisions, figures


# -- backtrader -------------------------------------------------------------------------------------
class BacktraderRules(bt.Strategy):
    params = (("key", ""), ("symbol", ""), ("arrays", None))

    def start(self):
        self.rules = Rules(self.p.key, self.p.arrays)
        self.ts = self.p.arrays["ts"]
        self.fills = []

    def notify_order(self, order):
        if order.status == order.Completed:
            i = len(self.data) - 1
            side = "buy" if order.isbuy() else "sell"
            amount = dec(abs(order.executed.size)).quantize(E8)
            self.fills.append((self.p.symbol, int(self.ts[i]), side, amount, order.executed.price))

    def next(self):
        i = len(self.data) - 1
        size = self.position.size
        avg = dec(self.position.price) if size else Decimal(0)
        action = self.rules.decide(i, size > 0, avg)
        if action == "buy":
            amount = amount_for(self.rules.p["order_quote"], self.rules.a["close"][i])
            if amount > 0:
                self.buy(size=float(amount))
        elif action == "sell":
            self.close()


class BacktraderPerpRules(BacktraderRules):
    """The same rules on a leveraged account that pays funding: at each funding time inside a
    candle, -position x close x rate is added to the cash, as our engine books it."""

    params = (("funding_rate", 0.0), ("funding_interval_ms", 0))
    funding_seen = 0  # funding payments over every run, for the output line

    def start(self):
        super().start()
        self.funding_total = 0.0
        self.funding_payments = 0

    def next(self):
        i = len(self.data) - 1
        size = self.position.size
        if size:
            interval, opened = self.p.funding_interval_ms, int(self.ts[i])
            times = (opened + STEP) // interval - opened // interval
            if times:
                paid = -size * self.data.close[0] * self.p.funding_rate * times
                self.broker.add_cash(paid)
                self.funding_total += paid
                self.funding_payments += times
        super().next()


def run_backtrader(key: str, pairs: list, perp: PerpTerms | None = None) -> tuple[float, int, list]:
    frames = []
    for symbol, rows in pairs:
        arrays = arrays_of(rows)
        frame = pd.DataFrame(
            {k: arrays[k] for k in ("open", "high", "low", "close", "volume")},
            index=pd.to_datetime(arrays["ts"], unit="ms"),
        )
        frames.append((symbol, arrays, frame))
    fills, candles, elapsed = [], 0, 0.0
    for symbol, arrays, frame in frames:
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(bt.feeds.PandasData(dataname=frame))
        cerebro.broker.setcash(float(CAPITAL))
        cerebro.broker.set_slippage_perc(float(SLIPPAGE), slip_open=True, slip_match=True, slip_out=True)
        if perp is None:
            cerebro.broker.setcommission(commission=float(FEE))
            cerebro.addstrategy(BacktraderRules, key=key, symbol=symbol, arrays=arrays)
        else:
            cerebro.broker.setcommission(commission=float(FEE), leverage=float(perp.leverage))
            cerebro.addstrategy(
                BacktraderPerpRules,
                key=key,
                symbol=symbol,
                arrays=arrays,
                funding_rate=float(perp.funding_rate),
                funding_interval_ms=perp.funding_interval_hours * 3_600_000,
            )
        started = time.perf_counter()
        strategy = cerebro.run()[0]
        elapsed += time.perf_counter() - started
        candles += len(frame)
        fills += strategy.fills
        if perp is not None:
            BacktraderPerpRules.funding_seen += strategy.funding_payments
    return elapsed, candles, fills


# -- backtesting.py ---------------------------------------------------------------------------------
UNIT = Decimal("1e-8")  # backtesting.py trades whole units: one unit is 1e-8 base


def run_backtesting(key: str, pairs: list) -> tuple[float, int, list] | None:
    try:
        from backtesting import Backtest, Strategy
    except ImportError:
        return None

    class Peer(Strategy):
        arrays: dict = {}
        symbol = ""
        key_name = ""

        def init(self):
            self.rules = Rules(self.key_name, self.arrays)
            self.fills = []
            self.seen = 0

        def next(self):
            i = len(self.data) - 1
            holding = self.position.size > 0
            avg = Decimal(0)
            if holding:
                avg = dec(self.trades[-1].entry_price) / UNIT
            action = self.rules.decide(i, holding, avg)
            if action == "buy":
                amount = amount_for(self.rules.p["order_quote"], self.arrays["close"][i])
                if amount > 0:
                    self.buy(size=int(amount / UNIT))
            elif action == "sell":
                self.position.close()

    fills, candles, elapsed = [], 0, 0.0
    for symbol, rows in pairs:
        arrays = arrays_of(rows)
        scale = float(UNIT)
        frame = pd.DataFrame(
            {
                "Open": arrays["open"] * scale,
                "High": arrays["high"] * scale,
                "Low": arrays["low"] * scale,
                "Close": arrays["close"] * scale,
                "Volume": arrays["volume"],
            },
            index=pd.to_datetime(arrays["ts"], unit="ms"),
        )
        peer = type("PeerRun", (Peer,), {"arrays": arrays, "symbol": symbol, "key_name": key})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test = Backtest(
                frame,
                peer,
                cash=float(CAPITAL),
                commission=float(FEE),
                spread=float(SLIPPAGE),
                finalize_trades=True,
            )
            started = time.perf_counter()
            result = test.run()
            elapsed += time.perf_counter() - started
        candles += len(frame)
        ts = arrays["ts"]
        index = {t: n for n, t in enumerate(frame.index)}
        for trade in result["_trades"].itertuples():
            amount = (Decimal(int(abs(trade.Size))) * UNIT).quantize(E8)
            entry_i = index[trade.EntryTime]
            fills.append((symbol, int(ts[entry_i]), "buy", amount, trade.EntryPrice / scale))
            if trade.ExitTime in index and trade.ExitBar < len(frame) - 1:
                fills.append((symbol, int(ts[index[trade.ExitTime]]), "sell", amount, trade.ExitPrice / scale))
    return elapsed, candles, fills


def compare(ours: list, peer: list) -> tuple[bool, float | None]:
    key = [(s, t, side, amount) for s, t, side, amount, _ in ours]
    peer_key = [(s, t, side, amount) for s, t, side, amount, _ in peer]
    if sorted(key) != sorted(peer_key):
        return False, None
    gaps = [
        abs(a[4] - b[4]) / a[4]
        for a, b in zip(sorted(ours, key=lambda f: f[:4]), sorted(peer, key=lambda f: f[:4]), strict=True)
    ]
    return True, max(gaps, default=0.0)


# -- the chart query --------------------------------------------------------------------------------
def chart_bot() -> Bot:
    org, _ = Organization.objects.get_or_create(slug="bench-chart", defaults={"name": "Bench chart"})
    account = ExchangeAccount.objects.filter(organization=org).first() or ExchangeAccount.objects.create(
        organization=org, exchange="paper", label="bench chart"
    )
    bot = Bot.objects.filter(organization=org, name="chart").first()
    if bot is None:
        bot = Bot.objects.create(
            organization=org,
            name="chart",
            strategy="macd_trend",
            params={},
            exchange_account=account,
            symbol="BTC/USDT",
        )
    return bot


def fill_snapshots(bot: Bot, start: dt.datetime, count: int) -> None:
    """`count` one-minute snapshots from `start`, written with COPY (once; kept between runs)."""
    if MetricSnapshot.objects.filter(bot=bot).count() == count:
        return
    MetricSnapshot.objects.filter(bot=bot).delete()
    given = {"organization_id", "bot_id", "ts", "balance", "equity", "pnl", "pnl_pct"}
    extra = [
        f
        for f in MetricSnapshot._meta.concrete_fields
        if f.column not in given and not f.primary_key and f.has_default()
    ]
    columns = ["organization_id", "bot_id", "ts", "balance", "equity", "pnl", "pnl_pct", *(f.column for f in extra)]
    defaults = [f.get_default() for f in extra]
    rng = np.random.default_rng(7)
    equity = 10_000 * np.cumprod(1 + rng.normal(0, 0.0005, count))
    table = connection.ops.quote_name(MetricSnapshot._meta.db_table)
    buffer = io.StringIO()
    for n in range(count):
        e = round(float(equity[n]), 8)
        ts = start + dt.timedelta(minutes=n)
        row = [bot.organization_id, bot.pk, ts.isoformat(), "10000", e, round(e - 10_000, 8), round(e / 100 - 100, 8)]
        buffer.write("\t".join(str(v) for v in (*row, *defaults)) + "\n")
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        cursor.execute(f"ANALYZE {table}")


def chart_query() -> dict:
    from analytics.selectors import series

    bot = chart_bot()
    end = timezone.now().replace(second=0, microsecond=0)
    start = end - dt.timedelta(minutes=SNAPSHOTS)
    first = MetricSnapshot.objects.filter(bot=bot).order_by("ts").values_list("ts", flat=True).first()
    if first is not None:
        start = first
        end = start + dt.timedelta(minutes=SNAPSHOTS)
    fill_snapshots(bot, start, SNAPSHOTS)
    series(bot, start, end, 500)  # warm the cache as a chart being watched would be
    times, points = [], 0
    for _ in range(7):
        began = time.perf_counter()
        points = len(series(bot, start, end, 500))
        times.append((time.perf_counter() - began) * 1000)
    return {
        "chart_snapshots": MetricSnapshot.objects.filter(bot=bot).count(),
        "chart_points": points,
        "chart_query_ms": round(statistics.median(times), 1),
    }


def main() -> None:
    pairs = load_pairs()
    line: dict = {"bench": "backtest", "pairs": len(pairs), "candles": sum(len(r) for _, r in pairs)}
    ours_t = peer_t = ours_n = peer_n = in_ours = in_peer = in_btpy = 0.0
    ours_all, peer_all, btpy_all = [], [], []
    btpy_t = btpy_n = 0.0
    btpy_ok = True
    decisions = 0
    spot_net = Decimal(0)
    for key in STRATEGIES:
        t, n, fills, spent, decided, figures = run_ours(key, pairs)
        spot_net += figures["net_pnl"]
        in_ours += spent
        decisions += decided
        Rules.spent = 0.0
        pt, pn, peer_fills = run_backtrader(key, pairs)
        in_peer += Rules.spent
        ours_t, ours_n, peer_t, peer_n = ours_t + t, ours_n + n, peer_t + pt, peer_n + pn
        ours_all += fills
        peer_all += peer_fills
        match, _ = compare(fills, peer_fills)
        line |= {
            f"{key}_bars_per_s": round(n / t),
            f"{key}_backtrader_bars_per_s": round(pn / pt),
            f"{key}_fills": len(fills),
            f"{key}_backtrader_fills": len(peer_fills),
            f"{key}_trades_match": match,
        }
        Rules.spent = 0.0
        btpy = run_backtesting(key, pairs)
        in_btpy += Rules.spent
        if btpy is None:
            btpy_ok = False
        else:
            bt_t, bt_n, bt_fills = btpy
            btpy_t, btpy_n = btpy_t + bt_t, btpy_n + bt_n
            btpy_all += bt_fills
            line |= {
                f"{key}_backtesting_bars_per_s": round(bt_n / bt_t),
                f"{key}_backtesting_fills": len(bt_fills),
            }
        print(f"{key} done", file=sys.stderr)
    match, gap = compare(ours_all, peer_all)
    line |= {
        "bars_per_s": round(ours_n / ours_t),
        "backtrader_bars_per_s": round(peer_n / peer_t),
        "speedup_vs_backtrader": round((ours_n / ours_t) / (peer_n / peer_t), 2),
        "trades_match": match,
        "fills": len(ours_all),
        "backtrader_fills": len(peer_all),
        "price_max_rel_diff": gap,
        # Per-candle cost split: the strategy's own decision, and the engine around it.
        "strategy_us_per_bar": round(in_ours / ours_n * 1e6, 1),
        "decisions_per_bar": round(decisions / ours_n, 4),
        "engine_us_per_bar": round((ours_t - in_ours) / ours_n * 1e6, 1),
        "peer_rules_us_per_bar": round(in_peer / peer_n * 1e6, 1),
        "backtrader_engine_us_per_bar": round((peer_t - in_peer) / peer_n * 1e6, 1),
    }
    if btpy_ok:
        btpy_match, btpy_gap = compare(ours_all, btpy_all)
        line |= {
            "backtesting_bars_per_s": round(btpy_n / btpy_t),
            "speedup_vs_backtesting": round((ours_n / ours_t) / (btpy_n / btpy_t), 2),
            "backtesting_trades_match": btpy_match,
            "backtesting_fills": len(btpy_all),
            "backtesting_price_max_rel_diff": btpy_gap,
            "backtesting_engine_us_per_bar": round((btpy_t - in_btpy) / btpy_n * 1e6, 1),
        }
    line["net_pnl"] = str(spot_net.quantize(E8))
    line |= perp_figures(pairs, ours_all)
    line |= chart_query()
    print(json.dumps(line))


def perp_figures(pairs: list, spot_fills: list) -> dict:
    """The same runs as perpetuals (PERP): speed against backtrader trading them with the same
    leverage and funding, and what the margin, funding and liquidation made of them."""
    out: dict = {}
    total_t = total_n = in_rules = 0.0
    peer_t = peer_n = 0.0
    BacktraderPerpRules.funding_seen = 0
    fills_all: list = []
    sums = {"net_pnl": Decimal(0), "funding_payments": 0, "funding_total": Decimal(0), "liquidations": 0}
    sums["margin_refused"] = 0
    for key in STRATEGIES:
        t, n, fills, spent, _, figures = run_ours(key, pairs, perp=PERP)
        total_t, total_n, in_rules = total_t + t, total_n + n, in_rules + spent
        fills_all += fills
        for name in sums:
            sums[name] += figures[name]
        out[f"perp_{key}_bars_per_s"] = round(n / t)
        pt, pn, _ = run_backtrader(key, pairs, perp=PERP)
        peer_t, peer_n = peer_t + pt, peer_n + pn
        print(f"{key} perp done", file=sys.stderr)
    speed = total_n / total_t
    strip = [(s.split(":")[0], *rest) for s, *rest in fills_all]
    return out | {
        "perp_bars_per_s": round(speed),
        "perp_backtrader_bars_per_s": round(peer_n / peer_t),
        "perp_speedup_vs_backtrader": round(speed / (peer_n / peer_t), 2),
        "perp_backtrader_funding_payments": BacktraderPerpRules.funding_seen,
        "perp_engine_us_per_bar": round((total_t - in_rules) / total_n * 1e6, 1),
        "perp_fills": len(fills_all),
        "perp_fills_match_spot": sorted(strip) == sorted(spot_fills),
        "perp_funding_payments": sums["funding_payments"],
        "perp_funding_total": str(sums["funding_total"].quantize(E8)),
        "perp_liquidations": sums["liquidations"],
        "perp_margin_refused": sums["margin_refused"],
        "perp_net_pnl": str(sums["net_pnl"].quantize(E8)),
    }


if __name__ == "__main__" and not os.environ.get("NO_MAIN"):
    main()
