"""macd_trend on the bundled BTC/USDT 5m candles (2021-04-15..05-24) with its default params."""

import json
from decimal import Decimal

import pytest

from strategies.builtin import macd_trend
from strategies.registry import validate_params
from tests.strategies import reference
from tests.strategies.helpers import EPS, context, index_of, listing, open_order, run
from tests.strategies.replay import load_bars

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
