"""macd_trend on the bundled BTC/USDT 5m candles (2021-04-15..05-24): with its default params
(long only, as on spot), and selling short or trading both sides as on a perpetual."""

import datetime as dt
import gzip
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from core.errors import ApplicationError
from strategies.base import AMOUNT_QUANTUM, Context, Decision, OrderIntent, PositionView, Quote, Signals, to_decimal
from strategies.builtin import macd_trend
from strategies.registry import validate_params
from tests.strategies import reference
from tests.strategies.helpers import EPS, context, index_of, iso, listing, open_order, run
from tests.strategies.replay import DATA, STEP_MS, load_bars, window

PARAMS = validate_params("macd_trend", {})
SIZE = macd_trend.warmup(PARAMS)

EXPECTED = [
    "2021-04-20 20:15 buy entry",
    "2021-04-20 20:55 sell exit",
    "2021-04-21 14:30 buy entry",
    "2021-04-21 15:25 sell exit",
    "2021-04-22 12:30 buy entry",
    "2021-04-22 12:45 sell exit",
    "2021-04-26 01:30 buy entry",
    "2021-04-26 02:20 sell exit",
    "2021-04-26 09:45 buy entry",
    "2021-04-26 10:50 sell exit",
    "2021-04-26 12:35 buy entry",
    "2021-04-26 12:45 sell exit",
    "2021-04-27 14:25 buy entry",
    "2021-04-27 16:00 sell exit",
    "2021-04-28 00:00 buy entry",
    "2021-04-28 01:50 sell exit",
    "2021-04-30 08:45 buy entry",
    "2021-04-30 09:35 sell exit",
    "2021-05-02 11:55 buy entry",
    "2021-05-02 12:20 sell exit",
    "2021-05-05 10:50 buy entry",
    "2021-05-05 11:00 sell exit",
    "2021-05-07 00:15 buy entry",
    "2021-05-07 00:50 sell exit",
    "2021-05-07 12:30 buy entry",
    "2021-05-07 13:30 sell exit",
    "2021-05-07 20:05 buy entry",
    "2021-05-07 20:40 sell exit",
    "2021-05-08 04:15 buy entry",
    "2021-05-08 04:35 sell exit",
    "2021-05-08 12:30 buy entry",
    "2021-05-08 13:55 sell exit",
    "2021-05-09 01:40 buy entry",
    "2021-05-09 02:30 sell exit",
    "2021-05-09 23:30 buy entry",
    "2021-05-09 23:50 sell exit",
    "2021-05-10 02:50 buy entry",
    "2021-05-10 04:05 sell exit",
    "2021-05-11 19:25 buy entry",
    "2021-05-11 19:45 sell exit",
    "2021-05-20 12:15 buy entry",
    "2021-05-20 13:35 sell exit",
    "2021-05-20 22:50 buy entry",
    "2021-05-20 23:40 sell exit",
    "2021-05-22 13:30 buy entry",
    "2021-05-22 13:40 sell exit",
    "2021-05-24 19:40 buy entry",
    "2021-05-24 20:30 sell exit",
]


@pytest.fixture(scope="module")
def result():
    return run("macd_trend")


@pytest.fixture(scope="module")
def indicators():
    """The entry conditions over the whole series, from the formulas in reference.py."""
    b = load_bars()
    upper, middle, lower = reference.bollinger(b.close, 20, 2.0)
    return {
        "hist": reference.macd_hist(b.close, 12, 26, 9),
        "volume": reference.volume_ratio(b.volume, 20),
        "atr_pct": reference.atr(b.high, b.low, b.close, 14) / b.close * 100,
        "adx": reference.adx(b.high, b.low, b.close, 14),
        "width_pct": (upper - lower) / middle * 100,
    }


def trend_margin(i: int) -> float:
    close_1h, ema_1h = reference.hourly_trend(load_bars().close, i, SIZE, 50)
    return close_1h - ema_1h


def quick_margins(ind: dict, i: int) -> list[float]:
    """One number per entry rule but the trend, >= 0 when the rule holds."""
    return [
        ind["hist"][i],  # MACD above its signal now ...
        -ind["hist"][i - 1],  # ... and not on the bar before
        ind["volume"][i] - 1.5,
        5 - ind["atr_pct"][i],
        ind["adx"][i] - 20,
    ]


def test_it_signals_the_pinned_trades(result):
    assert listing(result) == EXPECTED


def test_each_entry_holds_every_rule_and_no_other_flat_bar_holds_them_all(result, indicators):
    entries = {s.ts for s in result.signals if s.tag == "entry"}
    checked = 0
    for step in result.steps:
        if step.index < SIZE - 1 or not step.flat or step.open_buy:
            continue
        checked += 1
        quick = quick_margins(indicators, step.index)
        if step.ts in entries:
            assert min(quick) >= -EPS and trend_margin(step.index) >= -EPS, step.ts
        elif min(quick) > EPS:
            assert trend_margin(step.index) <= EPS, step.ts
    assert checked > 5000


def test_it_exits_exactly_on_a_down_cross_or_a_trend_flip(result, indicators):
    exits = {s.ts for s in result.signals if s.tag == "exit"}
    hist = indicators["hist"]
    for step in result.steps:
        if step.flat:
            continue
        i = step.index
        down_cross = hist[i - 1] >= 0 > hist[i]
        wants_out = down_cross or trend_margin(i) <= 0
        assert wants_out == (step.ts in exits), step.ts


def test_entries_spend_order_quote_and_exits_sell_the_whole_position(result):
    bars = load_bars()
    for s in result.signals:
        assert s.type == "market"
        if s.side == "buy":
            price = Decimal(str(float(bars.close[index_of(bars, s.ts)])))
            assert not s.exit and Decimal(100) - price * Decimal("0.00000001") < s.amount * price <= Decimal(100)
    fills = result.fills
    for buy, sell in zip(fills[::2], fills[1::2], strict=True):
        assert buy.side == "buy" and sell.side == "sell" and sell.amount == buy.amount


def test_the_window_covers_the_hourly_trend_ema_and_fits_one_exchange_request():
    assert SIZE == 12 * (50 + 30) + 1 <= 1000
    bigger = validate_params("macd_trend", {"trend_ema_period": 100})
    assert macd_trend.warmup(bigger) == 12 * (100 + 30) + 1


def test_it_waits_for_a_full_window():
    ctx = context("macd_trend", 500)
    decision = macd_trend.decide(ctx)
    assert decision.intents == () and "warming up" in decision.note


def test_it_does_not_enter_twice_while_an_entry_order_is_open(result):
    i = index_of(load_bars(), result.signals[0].ts)
    assert macd_trend.decide(context("macd_trend", i)).intents
    assert macd_trend.decide(context("macd_trend", i, open_orders=(open_order("buy", "entry"),))).intents == ()


def test_it_does_not_enter_twice_on_the_same_bar(result):
    i = index_of(load_bars(), result.signals[0].ts)
    first = macd_trend.decide(context("macd_trend", i))
    state = json.loads(json.dumps(first.state))
    assert macd_trend.decide(context("macd_trend", i, state=state)).intents == ()


def test_it_does_not_enter_while_holding(result):
    i = index_of(load_bars(), result.signals[0].ts)
    held = macd_trend.decide(context("macd_trend", i, quantity=Decimal("0.001"), average=Decimal("50000")))
    assert all(intent.side == "sell" for intent in held.intents)


def test_the_exit_is_a_reducing_market_sell_of_the_position(result):
    i = index_of(load_bars(), result.signals[1].ts)
    decision = macd_trend.decide(context("macd_trend", i, quantity=Decimal("0.0012345678"), average=Decimal("1")))
    (intent,) = decision.intents
    assert (intent.side, intent.type, intent.exit, intent.amount) == ("sell", "market", True, Decimal("0.00123456"))


def test_the_volatility_filters_can_block_an_entry(result):
    i = index_of(load_bars(), result.signals[0].ts)
    assert macd_trend.decide(context("macd_trend", i, {"atr_max_pct": "0.01"})).intents == ()
    assert macd_trend.decide(context("macd_trend", i, {"bb_width_max_pct": "0.01"})).intents == ()
    assert macd_trend.decide(context("macd_trend", i, {"adx_min": "99"})).intents == ()
    assert macd_trend.decide(context("macd_trend", i, {"volume_surge": "20"})).intents == ()


def test_it_buys_nothing_when_order_quote_rounds_to_zero(result):
    i = index_of(load_bars(), result.signals[0].ts)
    assert macd_trend.decide(context("macd_trend", i, {"order_quote": "0.00000001"})).intents == ()


def test_the_numbers_in_the_window_are_the_only_input():
    """More history than the window changes nothing: the decision reads the last `warmup` bars."""
    i = index_of(load_bars(), 1619015400000)  # 2021-04-21 14:30, the first entry
    short = macd_trend.decide(context("macd_trend", i))
    long = macd_trend.decide(context("macd_trend", i, size=SIZE + 3000))
    assert short == long and short.intents


# -- shorts and both sides, as on a perpetual ------------------------------------------------------
# replay.py is spot (a sell needs base), so these tests drive the strategy through a signed
# position of their own. Its MACD comes from pandas' `ewm`, not from reference.py or TA-Lib.

SHORT = {"direction": "short"}
BOTH = {"direction": "both"}
BOTH_LOOSE = {"direction": "both", "volume_surge": "1"}  # looser volume rule: reversals happen

# The first three short round trips with the defaults otherwise: the signal candle (open time),
# its close (the last price the decision saw) and the next candle's open (the market fill).
FIRST_SHORTS = [
    ("2021-04-18 14:50", "sell", "entry", "55221.48", "55217.17"),
    ("2021-04-18 16:05", "buy", "exit", "55659.57", "55659.56"),
    ("2021-04-21 20:05", "sell", "entry", "55155.85", "55155.85"),
    ("2021-04-21 21:30", "buy", "exit", "55194.13", "55195.76"),
    ("2021-04-22 00:05", "sell", "entry", "53376.55", "53379.21"),
    ("2021-04-22 00:25", "buy", "exit", "53950.14", "53950.14"),
]
SHORT_TRADES = 66  # signals over the whole series: 33 round trips


def ms(text: str) -> int:
    return int(dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC).timestamp() * 1000)


@dataclass(frozen=True)
class PerpSignal:
    index: int
    tick: int  # 0: the decision once the candle closed; 1: the one after that decision's fills
    side: str
    tag: str
    amount: Decimal
    last: Decimal
    fill: Decimal
    exit: bool


@dataclass
class PerpRun:
    signals: list[PerpSignal] = field(default_factory=list)
    steps: list[tuple[int, int, Decimal]] = field(default_factory=list)  # (candle, tick, position)

    def listing(self) -> list[str]:
        bars = load_bars()
        return [f"{iso(int(bars.ts[s.index]))} {s.side} {s.tag}" for s in self.signals]


def check_perp_decision(decision: Decision, ctx: Context) -> None:
    """One market order at most; an exit only when holding, on the closing side, for no more than
    the position; an entry only when flat."""
    assert len(decision.intents) <= 1
    quantity = ctx.position.quantity
    for intent in decision.intents:
        assert (intent.type, intent.price, intent.leg) == ("market", None, "primary")
        assert intent.amount > 0 and intent.amount == intent.amount.quantize(AMOUNT_QUANTUM)
        if intent.exit:
            assert intent.tag == "exit" and quantity != 0 and intent.stop_loss is None
            assert intent.side == ("sell" if quantity > 0 else "buy") and intent.amount <= abs(quantity)
        else:
            assert intent.tag == "entry" and quantity == 0
            # Only a risk-sized entry carries a stop, on the losing side of the last price.
            if ctx.params["risk_pct"] == 0:
                assert intent.stop_loss is None
            else:
                assert (intent.stop_loss < ctx.last_price) == (intent.side == "buy")
        assert intent.take_profit is None
    if decision.state is not None:
        json.dumps(decision.state)


def perp_replay(overrides: dict[str, Any]) -> PerpRun:
    """The strategy on a perpetual as the runtime drives it. Once candle i has closed it decides
    on the last `warmup` candles with candle i's close as the last price; its market orders fill
    at candle i + 1's open. When something filled it is asked again on the same candles (the
    runtime ticks again while the next candle forms), with that open as the last price, and that
    decision's orders fill at the same open. A sell from flat opens a short; the capital is
    Context's default 1000."""
    params = validate_params("macd_trend", overrides)
    bars = load_bars()
    size = macd_trend.warmup(params)
    quantity, state = Decimal(0), {}
    result = PerpRun()
    for i in range(size - 1, len(bars) - 1):
        last = to_decimal(bars.close[i])
        for tick in (0, 1):
            ctx = Context(
                now_ms=int(bars.ts[i]) + STEP_MS + tick * 60_000,
                symbol="BTC/USDT:USDT",
                params=params,
                bars=window(bars, i, size),
                quote=Quote(last, last, last),
                position=PositionView(quantity, Decimal(0)),
                state=state,
            )
            decision = macd_trend.decide(ctx)
            check_perp_decision(decision, ctx)
            result.steps.append((i, tick, quantity))
            if decision.state is not None:
                state = json.loads(json.dumps(decision.state))
            if not decision.intents:
                break
            fill = to_decimal(bars.open[i + 1])
            for intent in decision.intents:
                after = quantity + (intent.amount if intent.side == "buy" else -intent.amount)
                assert quantity * after >= 0, f"one order turned {quantity} into {after}"
                s = PerpSignal(i, tick, intent.side, intent.tag, intent.amount, last, fill, intent.exit)
                result.signals.append(s)
                quantity = after
            last = fill
    return result


@pytest.fixture(scope="module")
def short_run():
    return perp_replay(SHORT)


@pytest.fixture(scope="module")
def long_run():
    return perp_replay({})


@pytest.fixture(scope="module")
def pandas_hist():
    """The MACD histogram of the whole series from pandas' exponential means (seeded with the
    first close, not an average: after the 961-candle warm-up the seed no longer shows)."""
    close = pd.Series(load_bars().close)
    line = close.ewm(span=12, adjust=False).mean() - close.ewm(span=26, adjust=False).mean()
    return (line - line.ewm(span=9, adjust=False).mean()).to_numpy()


def short_margins(ind: dict, hist, i: int) -> list[float]:
    """One number per short entry rule but the trend, >= 0 when the rule holds."""
    return [
        -hist[i],  # MACD below its signal now ...
        hist[i - 1],  # ... and not on the candle before
        ind["volume"][i] - 1.5,
        5 - ind["atr_pct"][i],
        ind["adx"][i] - 20,
    ]


def test_on_a_perpetual_the_defaults_still_trade_the_pinned_longs(long_run):
    assert long_run.listing() == EXPECTED


def test_short_selling_trades_the_pinned_first_shorts_at_the_candles_prices(short_run):
    bars = load_bars()
    first = [(iso(int(bars.ts[s.index])), s.side, s.tag, s.last, s.fill) for s in short_run.signals[:6]]
    assert first == [(t, side, tag, Decimal(close), Decimal(fill)) for t, side, tag, close, fill in FIRST_SHORTS]
    assert len(short_run.signals) == SHORT_TRADES
    # The pinned prices are the candle file's own: the signal candle's close, the next one's open.
    with gzip.open(DATA / "BTC_USDT-5m.json.gz", "rt") as f:
        rows = json.load(f)
    at = {row[0]: n for n, row in enumerate(rows)}
    for t, _, _, close, fill in FIRST_SHORTS:
        n = at[ms(t)]
        assert (Decimal(str(rows[n][4])), Decimal(str(rows[n + 1][1]))) == (Decimal(close), Decimal(fill))
    for entry, exit_ in zip(short_run.signals[::2], short_run.signals[1::2], strict=True):
        assert (entry.side, entry.exit, exit_.side, exit_.exit) == ("sell", False, "buy", True)
        # order_quote at the last price, rounded down; the exit buys back exactly that.
        assert entry.amount == (Decimal(100) / entry.last).quantize(AMOUNT_QUANTUM, rounding="ROUND_DOWN")
        assert exit_.amount == entry.amount


def test_the_first_shorts_open_on_a_bearish_cross_and_close_on_the_next_bullish_one(indicators, pandas_hist):
    bars = load_bars()
    h = pandas_hist
    times = [index_of(bars, ms(t)) for t, *_ in FIRST_SHORTS]
    for entry, exit_ in zip(times[::2], times[1::2], strict=True):
        # Entry: the histogram turns negative in a 1h downtrend, every filter passing.
        assert h[entry - 1] >= 0 > h[entry]
        assert min(short_margins(indicators, h, entry)) > 0 and trend_margin(entry) < 0
        # Held until the first up-cross (each of these three exits is one), no trend flip before.
        for i in range(entry + 1, exit_):
            assert not h[i - 1] <= 0 < h[i] and trend_margin(i) < 0, iso(int(bars.ts[i]))
        assert h[exit_ - 1] <= 0 < h[exit_]


def test_each_short_entry_holds_every_mirrored_rule_and_no_other_flat_bar_holds_them_all(
    short_run, indicators, pandas_hist
):
    entries = {s.index for s in short_run.signals if s.tag == "entry"}
    checked = 0
    for i, tick, quantity in short_run.steps:
        if tick or quantity:
            continue
        checked += 1
        quick = short_margins(indicators, pandas_hist, i)
        if i in entries:
            assert min(quick) >= -EPS and -trend_margin(i) >= -EPS, iso(int(load_bars().ts[i]))
        elif min(quick) > EPS:
            assert -trend_margin(i) <= EPS, iso(int(load_bars().ts[i]))
    assert checked > 5000


def test_a_short_is_bought_back_exactly_on_an_up_cross_or_when_the_trend_stops_falling(short_run, pandas_hist):
    exits = {(s.index, s.tick) for s in short_run.signals if s.tag == "exit"}
    h = pandas_hist
    held = 0
    for i, tick, quantity in short_run.steps:
        if not quantity:
            continue
        assert quantity < 0
        held += 1
        up_cross = h[i - 1] <= 0 < h[i]
        assert (up_cross or trend_margin(i) >= 0) == ((i, tick) in exits), iso(int(load_bars().ts[i]))
    assert held > 100


def test_with_both_it_takes_every_long_and_every_short_of_the_one_sided_runs(long_run, short_run):
    """A short entry is also a long's exit signal (and the reverse), so trading both sides loses
    no trade of either."""
    both = perp_replay(BOTH)
    bars = load_bars()
    one_sided = long_run.signals + short_run.signals
    # Same candle: the exit (tick 0) goes before the entry (tick 1).
    merged = sorted(one_sided, key=lambda s: (s.index, s.tag != "exit"))
    assert both.listing() == [f"{iso(int(bars.ts[s.index]))} {s.side} {s.tag}" for s in merged]


def test_a_reversal_closes_the_position_first_and_opens_the_other_side_on_the_next_decision():
    both = perp_replay(BOTH_LOOSE)
    position = {(i, tick): q for i, tick, q in both.steps}
    reversals = [s for s in both.signals if s.tick == 1]
    assert len(reversals) == 4
    for entry in reversals:
        before = position[(entry.index, 0)]
        assert entry.tag == "entry" and position[(entry.index, 1)] == 0 and before != 0
        (exit_,) = [s for s in both.signals if (s.index, s.tick) == (entry.index, 0)]
        assert exit_.exit and exit_.amount == abs(before)
        # The new position has the other sign.
        assert (entry.side == "sell") == (before > 0)
    # perp_replay checked every fill: no order ever took the position through zero.
    sides = [s.side for s in both.signals if s.tag == "entry"]
    assert "buy" in sides and "sell" in sides


def test_a_reversal_decision_holds_the_exit_alone_and_the_entry_waits_for_flat():
    i = index_of(load_bars(), ms("2021-05-02 08:05"))  # a bearish cross BOTH_LOOSE reverses on
    held = macd_trend.decide(context("macd_trend", i, BOTH_LOOSE, quantity=Decimal("0.003")))
    assert held.intents == (OrderIntent("sell", Decimal("0.003"), tag="exit", exit=True),)
    flat = macd_trend.decide(context("macd_trend", i, BOTH_LOOSE))
    (intent,) = flat.intents
    assert (intent.side, intent.tag, intent.exit) == ("sell", "entry", False)
    again = macd_trend.decide(context("macd_trend", i, BOTH_LOOSE, state=json.loads(json.dumps(flat.state))))
    assert again.intents == ()
    # With both, nothing is entered while any order of the bot's is still working.
    working = (open_order("buy", "exit"),)
    assert macd_trend.decide(context("macd_trend", i, BOTH_LOOSE, open_orders=working)).intents == ()


def test_short_entries_wait_for_their_own_side_and_only_short_or_both_take_them(short_run):
    i = short_run.signals[0].index
    assert macd_trend.decide(context("macd_trend", i, SHORT)).intents
    assert macd_trend.decide(context("macd_trend", i, BOTH)).intents
    assert macd_trend.decide(context("macd_trend", i)).intents == ()  # long only
    assert macd_trend.decide(context("macd_trend", i, SHORT, open_orders=(open_order("sell", "entry"),))).intents == ()
    long_entry = index_of(load_bars(), ms("2021-04-21 14:30"))
    assert macd_trend.decide(context("macd_trend", long_entry, SHORT)).intents == ()


def test_a_short_is_closed_by_a_reducing_buy_whatever_the_direction(short_run):
    i = short_run.signals[1].index
    for overrides in (SHORT, BOTH, {}):
        decision = macd_trend.decide(context("macd_trend", i, overrides, quantity=Decimal("-0.0012345678")))
        (intent,) = decision.intents
        assert (intent.side, intent.type, intent.exit, intent.amount) == ("buy", "market", True, Decimal("0.00123456"))
        assert decision.note == "MACD crossed up"
    working = (open_order("buy", "exit"),)
    assert macd_trend.decide(context("macd_trend", i, SHORT, quantity=Decimal("-0.001"), open_orders=working)) == (
        Decision()
    )


def test_the_wake_columns_cover_every_short_trade_and_the_prepared_path_agrees(short_run):
    bars = load_bars()
    params = validate_params("macd_trend", SHORT)
    columns = macd_trend.prepare(bars, params)
    for s in short_run.signals:
        assert columns["wake_holding" if s.exit else "wake_flat"][s.index], iso(int(bars.ts[s.index]))
        quantity = -s.amount if s.exit else Decimal(0)
        ctx = context("macd_trend", s.index, SHORT, quantity=quantity)
        assert macd_trend.decide(replace(ctx, signals=Signals(columns, s.index))) == macd_trend.decide(ctx)
    assert not columns["wake_flat"].all() and not columns["wake_holding"].all()
    both = macd_trend.prepare(bars, validate_params("macd_trend", BOTH))["wake_flat"]
    assert (both >= columns["wake_flat"]).all() and (both >= macd_trend.prepare(bars, PARAMS)["wake_flat"]).all()


# -- risk-based size -----------------------------------------------------------------------------


def test_the_risk_size_loses_risk_pct_of_the_capital_at_the_atr_stop():
    risky = {"risk_pct": "1.5", "atr_stop_mult": "2"}
    ctx = context("macd_trend", SIZE, risky, last=Decimal("50000"))
    atr = Decimal("123.45")
    # By hand: 1000 x 1.5% = 15 quote at risk; the stop is 2 x 123.45 = 246.90 away;
    # 15 / 246.9 = 0.0607533414..., rounded down to 8 decimals.
    assert macd_trend.entry_amount(ctx, "sell", atr) == (Decimal("0.06075334"), Decimal("50246.90"))
    assert macd_trend.entry_amount(ctx, "buy", atr) == (Decimal("0.06075334"), Decimal("49753.10"))
    # 2500 x 1.5% = 37.5; 37.5 / 246.9 = 0.1518833535...
    assert macd_trend.entry_amount(replace(ctx, capital=Decimal(2500)), "sell", atr)[0] == Decimal("0.15188335")
    # order_quote plays no part then; with risk_pct 0 it is the size: 100 / 50000.
    assert macd_trend.entry_amount(
        context("macd_trend", SIZE, {**risky, "order_quote": "1"}, last=Decimal("50000")), "sell", atr
    )[0] == Decimal("0.06075334")
    plain = context("macd_trend", SIZE, last=Decimal("50000"))
    assert macd_trend.entry_amount(plain, "sell", atr)[0] == Decimal("0.002")
    # A stop off the 8-decimal grid is rounded toward the price: 1/3 ATR x 2 = 0.666666666...
    third = Decimal(1) / 3
    assert macd_trend.entry_amount(ctx, "buy", third)[1] == Decimal("49999.33333334")
    assert macd_trend.entry_amount(ctx, "sell", third)[1] == Decimal("50000.66666666")
    assert macd_trend.entry_amount(replace(ctx, capital=Decimal(0)), "sell", atr) is None


def test_only_a_risk_sized_entry_carries_a_stop_loss(short_run):
    i = short_run.signals[0].index
    (fixed,) = macd_trend.decide(context("macd_trend", i, SHORT)).intents
    assert fixed.stop_loss is None
    risky = {**SHORT, "risk_pct": "0.5", "atr_stop_mult": "3"}
    (sized,) = macd_trend.decide(context("macd_trend", i, risky)).intents
    assert sized.stop_loss > short_run.signals[0].last and sized.take_profit is None
    long_entry = index_of(load_bars(), ms("2021-04-21 14:30"))
    (bought,) = macd_trend.decide(context("macd_trend", long_entry, {"risk_pct": "0.5"})).intents
    assert bought.side == "buy" and bought.stop_loss < to_decimal(load_bars().close[long_entry])


def test_a_risk_sized_short_on_real_candles_uses_the_atr_of_its_signal_candle(short_run):
    bars = load_bars()
    first = short_run.signals[0]
    ctx = context("macd_trend", first.index, {**SHORT, "risk_pct": "1", "atr_stop_mult": "2"})
    (intent,) = macd_trend.decide(ctx).intents
    atr = float(reference.atr(bars.high, bars.low, bars.close, 14)[first.index])  # Wilder's, not TA-Lib
    by_hand = Decimal(1000) * Decimal("0.01") / (Decimal(repr(atr)) * 2)
    assert intent.side == "sell" and abs(intent.amount - by_hand) <= AMOUNT_QUANTUM
    # The entry carries the stop it is sized for, two ATRs above the last price, and names it.
    assert abs(intent.stop_loss - (first.last + 2 * Decimal(repr(atr)))) <= 2 * AMOUNT_QUANTUM
    assert f"to the stop at {intent.stop_loss}" in macd_trend.decide(ctx).note
    # The ATR is 0.52% of the price there, so the stop is 1.04% away and 10 quote at risk buys
    # about 10 / 0.0104 = 960 quote of notional, where order_quote alone would have sold 100.
    assert Decimal(940) < intent.amount * first.last < Decimal(980)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("direction", "sideways", "direction must be one of long, short, both."),
        ("direction", 1, "direction must be a str, got 1."),
        ("risk_pct", "-1", "risk_pct must be at least 0."),
        ("risk_pct", "101", "risk_pct must be at most 100."),
        ("atr_stop_mult", "0", "atr_stop_mult must be at least 0.1."),
        ("atr_stop_mult", "abc", "atr_stop_mult must be a decimal, got 'abc'."),
    ],
)
def test_bad_direction_and_sizing_params_are_refused_by_name(name, value, message):
    with pytest.raises(ApplicationError) as err:
        validate_params("macd_trend", {name: value})
    assert (err.value.message, err.value.field) == (message, f"params.{name}")


def test_the_new_params_default_to_the_old_behaviour():
    assert (PARAMS["direction"], PARAMS["risk_pct"], PARAMS["atr_stop_mult"]) == ("long", Decimal(0), Decimal(2))
