"""Perpetual futures in the backtester, on small hand-made candles whose every figure is worked
out by hand below (margin = notional / leverage, fee = notional x 0.1%, funding = -quantity x
close x rate, liquidation price from the maintenance rate 1 / (2 x max leverage)). Each run is
made twice: deciding on every candle, and with wake columns that make the engine jump over the
candles between the scripted ones, where funding and liquidation must still happen."""

from __future__ import annotations

from decimal import Decimal as D  # noqa: N817 - keeps the hand arithmetic readable

import numpy as np
import pytest

from backtest.engine import run_backtest
from backtest.ledger import PerpTerms
from backtest.services import outcome_json, outcome_statistics
from exchanges.fill_model import FillTerms
from strategies.base import Bars
from tests.backtest.strategies import SCRIPTED, SCRIPTED_SKIPPING

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC, on the hour
STEP = 1_800_000  # 30-minute candles: with 1 h funding, every second candle's close is a funding time
HOUR = 3_600_000
TERMS = FillTerms(taker_fee=D("0.001"), maker_fee=D("0.001"), slippage=D("0"))

RISING = [  # open, high, low, close
    (100, 101, 99, 100),
    (100, 102, 99, 101),
    (101, 104, 100, 103),
    (103, 106, 102, 105),
    (105, 107, 104, 106),
    (106, 108, 105, 107),
]
FALLING = [
    (200, 201, 199, 200),
    (200, 201, 195, 196),
    (196, 197, 189, 190),
    (190, 191, 185, 186),
    (186, 188, 184, 187),
]
WICK = [
    (1000, 1001, 999, 1000),
    (1000, 1005, 990, 1000),
    (1000, 1002, 950, 995),  # the wick: down to 950
    (995, 998, 990, 996),
]


def bars(rows) -> Bars:
    a = np.asarray(rows, dtype=np.float64)
    ts = T0 + STEP * np.arange(len(rows), dtype=np.int64)
    return Bars(ts, a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy(), np.full(len(rows), 1000.0))


def run(rows, script, *, spec=SCRIPTED, capital="1000", perp=None):
    return run_backtest(
        spec=spec,
        params={"script": script, "t0": T0, "step": STEP},
        bars=bars(rows),
        symbol="BTC/USDT:USDT" if perp else "BTC/USDT",
        step_ms=STEP,
        capital=D(capital),
        terms=TERMS,
        perp=perp,
    )


def perp(leverage, *, rate="0", mode="isolated", hours=1, max_leverage="50"):
    return PerpTerms(
        leverage=D(leverage),
        margin_mode=mode,
        funding_rate=D(rate),
        funding_interval_hours=hours,
        max_leverage=D(max_leverage),
    )


def curve(outcome) -> list[float]:
    return [round(float(v), 6) for v in outcome.equity]


both_ways = pytest.mark.parametrize("spec", [SCRIPTED, SCRIPTED_SKIPPING], ids=["every-candle", "skipping"])


@both_ways
def test_a_3x_long_posts_a_third_of_the_notional_and_pays_hourly_funding(spec):
    outcome = run(
        RISING, {0: [("buy", "6", False)], 3: [("sell", "6", True)]}, spec=spec, perp=perp("3", rate="0.0001")
    )
    # Buy 6 at the open of candle 1 (100): notional 600, margin 600 / 3 = 200, fee 0.6.
    #   cash 1000 - 200 - 0.6 = 799.4
    # Funding at 01:00 (close of candle 1, 101): 6 x 101 x 0.0001 = 0.0606 paid, out of the
    #   isolated margin: 200 - 0.0606 = 199.9394. Candle 2 (01:00-01:30] has no funding time.
    # Funding at 02:00 (close of candle 3, 105): 6 x 105 x 0.0001 = 0.063: margin 199.8764.
    # Sell 6 at the open of candle 4 (105): PnL 6 x 5 = 30, fee 0.63, the margin comes back:
    #   cash 799.4 + 199.8764 + 30 - 0.63 = 1028.6464
    assert [(f.side, f.price, f.amount, f.fee, f.ts_ms) for f in outcome.fills] == [
        ("buy", D("100"), D("6"), D("0.6"), T0 + STEP),
        ("sell", D("105"), D("6"), D("0.63"), T0 + 4 * STEP),
    ]
    assert [(f.ts_ms, f.mark, f.quantity, f.amount) for f in outcome.funding] == [
        (T0 + HOUR, D("101"), D("6"), D("-0.0606")),
        (T0 + 2 * HOUR, D("105"), D("6"), D("-0.063")),
    ]
    assert outcome.funding_total == D("-0.1236")
    assert outcome.final_cash == outcome.final_equity == D("1028.6464")
    assert outcome.final_margin == 0
    (trade,) = outcome.trades
    # 30 - 0.6 - 0.63 - 0.0606 - 0.063
    assert (trade.side, trade.pnl, trade.fees, trade.funding) == ("long", D("28.6464"), D("1.23"), D("-0.1236"))
    # Equity at each close = cash + margin + 6 x (close - 100):
    #   c0 1000 (flat); c1 799.4 + 199.9394 + 6 = 1005.3394; c2 799.4 + 199.9394 + 18 = 1017.3394;
    #   c3 799.4 + 199.8764 + 30 = 1029.2764; c4, c5 1028.6464 (flat again)
    assert curve(outcome) == [1000.0, 1005.3394, 1017.3394, 1029.2764, 1028.6464, 1028.6464]


@both_ways
def test_a_short_profits_on_a_fall_and_receives_a_positive_funding_rate(spec):
    outcome = run(
        FALLING, {0: [("sell", "2", False)], 3: [("buy", "2", True)]}, spec=spec, perp=perp("2", rate="0.0001")
    )
    # Sell 2 from flat at the open of candle 1 (200): a short. Notional 400, margin 400 / 2 = 200,
    #   fee 0.4: cash 1000 - 200 - 0.4 = 799.6
    # Funding at 01:00 (close 196): the short receives 2 x 196 x 0.0001 = 0.0392 into cash: 799.6392
    # Funding at 02:00 (close 186): + 2 x 186 x 0.0001 = 0.0372: 799.6764
    # Buy 2 back at the open of candle 4 (186): PnL 2 x (200 - 186) = 28, fee 0.372:
    #   cash 799.6764 + 200 + 28 - 0.372 = 1027.3044
    assert [f.amount for f in outcome.funding] == [D("0.0392"), D("0.0372")]
    assert outcome.final_equity == D("1027.3044")
    (trade,) = outcome.trades
    # 28 - 0.4 - 0.372 + 0.0392 + 0.0372
    assert (trade.side, trade.entry_price, trade.exit_price, trade.pnl) == ("short", D("200"), D("186"), D("27.3044"))
    # Equity = cash + margin - 2 x (close - 200):
    #   c1 799.6392 + 200 + 8 = 1007.6392; c2 799.6392 + 200 + 20 = 1019.6392;
    #   c3 799.6764 + 200 + 28 = 1027.6764; c4 1027.3044
    assert curve(outcome) == [1000.0, 1007.6392, 1019.6392, 1027.6764, 1027.3044]


@both_ways
def test_a_20x_long_is_liquidated_by_a_wick_and_its_margin_is_lost(spec):
    outcome = run(WICK, {0: [("buy", "1", False)], 3: [("sell", "1", True)]}, spec=spec, perp=perp("20"))
    # Buy 1 at 1000: margin 1000 / 20 = 50, fee 1: cash 949.
    # Maintenance rate 1 / (2 x 50) = 0.01. Liquidation where 50 + (P - 1000) = P x 0.01:
    #   P = (1000 - 50) / 0.99 = 959.59...(59) (rounded down to 18 decimals)
    liquidation = D("959.595959595959595959")
    # Candle 1's low 990 stays above it; candle 2's wick to 950 reaches it.
    (event,) = outcome.liquidations
    assert (event.candle_ms, event.side, event.quantity, event.price) == (T0 + 2 * STEP, "long", D("1"), liquidation)
    assert event.margin_lost == D("50")
    assert [(f.side, f.price, f.amount, f.fee, f.liquidation) for f in outcome.fills][1] == (
        "sell",
        liquidation,
        D("1"),
        D("0"),
        True,
    )
    # The margin is gone and nothing more: equity 1000 - 50 - 1 = 949.
    assert outcome.final_cash == outcome.final_equity == D("949")
    (trade,) = outcome.trades
    assert (trade.exit_tag, trade.liquidated, trade.pnl) == ("liquidation", True, D("-51"))
    # The exit scripted for candle 3 finds nothing to reduce: refused, as a reduce-only order is.
    assert outcome.rejected == {"reduce_only": 1}
    # c0 1000; c1 949 + 50 + 1 x (1000 - 1000) = 999; c2, c3 949
    assert curve(outcome) == [1000.0, 999.0, 949.0, 949.0]


def test_cross_margin_backs_the_same_position_with_the_free_cash_so_the_wick_passes():
    outcome = run(WICK, {0: [("buy", "1", False)], 2: [("sell", "1", True)]}, perp=perp("20", mode="cross"))
    # Cross: the margin behind the position is 50 + the free 949 = 999, so the liquidation
    # price is (1000 - 999) / 0.99 = 1.01...: the wick to 950 does not reach it.
    assert outcome.liquidations == []
    # Sold at candle 3's open, 995: cash 949 + 50 - 5 - 0.995 = 993.005
    assert outcome.final_equity == D("993.005")


def test_an_entry_without_the_margin_for_it_is_refused_and_counted():
    outcome = run(RISING, {0: [("buy", "6", False)], 1: [("buy", "2", False)]}, capital="100", perp=perp("3"))
    # Buy 6 at 100: margin 200 + fee 0.6 > 100 free: refused.
    # Buy 2 at candle 2's open, 101: margin 202 / 3 = 67.333333333333333333 (rounded down),
    #   fee 0.202: cash 100 - 67.333333333333333333 - 0.202 = 32.464666666666666667
    assert outcome.rejected == {"margin_refused": 1}
    assert [(f.price, f.amount) for f in outcome.fills] == [(D("101"), D("2"))]
    assert outcome.final_cash == D("32.464666666666666667")
    assert outcome.final_margin == D("67.333333333333333333")
    # Marked at the last close, 107: 32.464666666666666667 + 67.333333333333333333 + 2 x 6
    assert outcome.final_equity == D("111.798")


def test_a_sell_larger_than_the_long_closes_it_and_opens_a_short_with_the_rest():
    outcome = run(RISING, {0: [("buy", "6", False)], 2: [("sell", "8", False)]}, perp=perp("3"))
    # Buy 6 at 100 (margin 200, fee 0.6): cash 799.4.
    # Sell 8 at candle 3's open, 103: fee 0.824, shared 6/8 = 0.618 and 2/8 = 0.206.
    #   Closing 6: PnL 6 x 3 = 18, margin 200 back: cash 799.4 + 200 + 18 - 0.618 = 1016.782
    #   Opening a short of 2: margin 206 / 3 = 68.666666666666666666, fee 0.206:
    #   cash 1016.782 - 68.666666666666666666 - 0.206 = 947.909333333333333334
    long_, short = outcome.trades
    assert (long_.side, long_.amount, long_.pnl) == ("long", D("6"), D("16.782"))  # 18 - 0.6 - 0.618
    # Still open at the end, marked at 107: -2 x 4 = -8, minus its fee 0.206
    assert (short.side, short.amount, short.exit_ms, short.pnl) == ("short", D("2"), None, D("-8.206"))
    assert outcome.final_quantity == D("-2")
    assert outcome.final_cash == D("947.909333333333333334")
    # 947.909333333333333334 + 68.666666666666666666 - 8 = 1000 + 16.782 - 8.206
    assert outcome.final_equity == D("1008.576")


def test_a_resting_limit_sell_opens_a_short_when_a_candle_reaches_it():
    outcome = run(RISING, {0: [("sell", "2", False, "104")]}, perp=perp("3", rate="0.0001"))
    # The limit sell at 104 rests (candle 1 opens at 100), holding margin 208 / 3 =
    #   69.333333333333333333 and the maker fee 0.208. Candle 2's high reaches 104: a maker fill
    #   of 2 at 104 (volume 1000 x 10% is enough): cash 1000 - 69.333333333333333333 - 0.208.
    assert [(f.side, f.price, f.amount, f.fee, f.maker) for f in outcome.fills] == [
        ("sell", D("104"), D("2"), D("0.208"), True)
    ]
    # Funding to the short at 02:00 (close 105): 2 x 105 x 0.0001 = 0.021; at 03:00 (close 107):
    #   0.0214. The candle it filled in (01:00-01:30] has no funding time.
    assert [(f.ts_ms, f.amount) for f in outcome.funding] == [(T0 + 2 * HOUR, D("0.021")), (T0 + 3 * HOUR, D("0.0214"))]
    # 1000 - 0.208 - 2 x (107 - 104) + 0.021 + 0.0214
    assert outcome.final_equity == D("993.8344")


def test_the_candle_a_resting_order_fills_in_is_not_funded_as_on_the_paper_exchange():
    outcome = run(RISING, {0: [("buy", "2", False, "99")]}, perp=perp("3", rate="0.0001"))
    # The limit buy at 99 fills on candle 1 (low 99), whose close is the 01:00 funding time: the
    # paper exchange settles a position from the candle after a resting fill, so the first
    # payment is at 02:00 (close 105): 2 x 105 x 0.0001 = 0.021; then 03:00 (close 107): 0.0214.
    assert [(f.ts_ms, f.amount) for f in outcome.funding] == [
        (T0 + 2 * HOUR, D("-0.021")),
        (T0 + 3 * HOUR, D("-0.0214")),
    ]
    # 1000 - 0.198 (maker fee) + 2 x (107 - 99) - 0.021 - 0.0214
    assert outcome.final_equity == D("1015.7596")


def test_on_spot_a_sell_from_flat_is_still_refused():
    outcome = run(FALLING, {0: [("sell", "2", False)]})
    assert outcome.rejected == {"insufficient_funds": 1}
    assert outcome.fills == [] and outcome.trades == []
    assert outcome.final_equity == D("1000") and curve(outcome) == [1000.0] * 5
    results = outcome_json(outcome, stats=outcome_statistics(outcome), params={})
    assert not {"perp", "funding", "liquidations"} & set(results)
    assert "funding_total" not in results["stats"] and "margin" not in results["final"]


def test_on_a_perpetual_an_exit_from_flat_is_refused_as_reduce_only():
    outcome = run(FALLING, {0: [("sell", "2", True)]}, perp=perp("2"))
    assert outcome.rejected == {"reduce_only": 1}
    assert outcome.fills == []


def test_the_results_carry_the_terms_funding_and_liquidations():
    outcome = run(WICK, {0: [("buy", "1", False)]}, perp=perp("20", rate="0.0001"))
    results = outcome_json(outcome, stats=outcome_statistics(outcome), params={})
    assert results["perp"] == {
        "leverage": "20",
        "margin_mode": "isolated",
        "funding_rate": "0.0001",
        "funding_interval_hours": 1,
        "max_leverage": "50",
        "maintenance_rate": "0.01",
    }
    # Funding at 01:00 only (close 1000): 1 x 1000 x 0.0001 = 0.1, paid out of the margin (49.9).
    # Liquidation then at (1000 - 49.9) / 0.99 = 959.69696...: candle 2's wick reaches it.
    assert [D(f["amount"]) for f in results["funding"]] == [D("-0.1")]
    assert D(results["funding_total"]) == D("-0.1") and results["stats"]["funding_total"] == "-0.10000000"
    (event,) = results["liquidations"]
    assert D(event["price"]) == D("959.696969696969696969") and D(event["margin_lost"]) == D("49.9")
    assert results["stats"]["liquidations"] == 1
    # 1000 - 1 (fee) - 0.1 (funding) - 49.9 (the margin left) = 949
    assert {k: D(v) for k, v in results["final"].items()} == {
        "cash": D("949"),
        "quantity": D("0"),
        "equity": D("949"),
        "margin": D("0"),
    }
    assert results["trades"][0]["liquidated"] is True and D(results["trades"][0]["pnl"]) == D("-51")


def enter_once(ctx):
    """At the first decision, a market order of `params["side"]` for `params["amount"]`; then holds."""
    from strategies.base import Decision, OrderIntent

    if ctx.state.get("entered"):
        return Decision()
    return Decision(
        intents=(OrderIntent(ctx.params["side"], D(ctx.params["amount"]), tag="entry"),), state={"entered": 1}
    )


@pytest.mark.parametrize(
    ("side", "leverage", "start", "liquidated"),
    [
        ("buy", "20", 200, True),  # within a day
        ("sell", "10", 200, False),  # open to the end, funding received all along
        ("buy", "3", 300, True),  # in the May 2021 crash
    ],
)
def test_the_backtester_funds_and_liquidates_a_position_as_the_paper_exchange(
    db, btc_candles, side, leverage, start, liquidated
):
    """The same entry, made at the same market time, on the real BTC/USDT candles: the paper
    exchange's perpetual book and the backtester book the same fill, the same funding payments
    (time and amount) and the same liquidation (candle and price), and end with the same balance."""
    from backtest.data import bars_from_file
    from exchanges.market_data import FixedClock, ReplaySource
    from exchanges.models import PaperBalance, PaperFunding, PaperTrade
    from exchanges.paper import PaperExchange, paper_balance_set
    from exchanges.types import OrderRequest
    from strategies.registry import StrategySpec
    from tests.backtest.test_engine import DATA
    from tests.factories import ExchangeAccountFactory

    five = 300_000
    terms = FillTerms(taker_fee=D("0.001"), maker_fee=D("0.001"), slippage=D("0.001"))
    market = perp(leverage, rate="0.0003", hours=8)
    outcome = run_backtest(
        spec=StrategySpec(key="enter_once", label="test", summary="test", params=(), decide=enter_once),
        params={"side": side, "amount": "1"},
        bars=bars_from_file(DATA / "BTC_USDT-5m.json.gz"),
        symbol="BTC/USDT:USDT",
        step_ms=five,
        capital=D("100000"),
        terms=terms,
        start_index=start,
        perp=market,
    )

    source = ReplaySource(exchange="binance", timeframe="5m")
    source.load("BTC/USDT", btc_candles)
    clock = FixedClock(btc_candles[start].ts + five)
    account = ExchangeAccountFactory(
        exchange="paper",
        paper_taker_fee=terms.taker_fee,
        paper_slippage=terms.slippage,
        paper_funding_rate=market.funding_rate,
        paper_funding_interval_hours=8,
        paper_max_leverage=50,
    )
    paper_balance_set(account=account, asset="USDT", free=D("100000"))
    paper = PaperExchange(account, source=source, clock=clock)
    paper.set_leverage("BTC/USDT:USDT", leverage=D(leverage), margin_mode="isolated")
    paper.create_order(OrderRequest("BTC/USDT:USDT", side, "market", D("1"), "entry"))
    clock.now = btc_candles[-1].ts + five
    paper.perps.match("BTC/USDT:USDT")

    trades = PaperTrade.objects.filter(account=account).order_by("ts_ms")
    assert [(t.ts_ms, t.side, t.price, t.amount, t.fee, t.liquidation) for t in trades] == [
        (f.ts_ms, f.side, f.price, f.amount, f.fee, f.liquidation) for f in outcome.fills
    ]
    funding = PaperFunding.objects.filter(account=account).order_by("ts_ms")
    assert [(f.ts_ms, f.mark_price, f.amount) for f in funding] == [
        (f.ts_ms, f.mark, f.amount) for f in outcome.funding
    ]
    assert len(outcome.funding) >= 2 and len(outcome.liquidations) == int(liquidated)
    balance = PaperBalance.objects.get(account=account, asset="USDT")
    if outcome.liquidations:
        # The paper exchange takes the maintenance margin at the rounded liquidation price, so
        # its balance may differ from the margin lost in the last places.
        assert abs(balance.free - outcome.final_cash) < D("1e-12") and balance.locked == 0
    else:
        assert (balance.free, balance.locked) == (outcome.final_cash, outcome.final_margin)
