"""Declarations of the built-in strategies: their keys, parameters and warm-up lengths."""

from decimal import Decimal as D  # noqa: N817 - keeps the parameter tables readable

from strategies.registry import Param, StrategySpec, register

register(
    StrategySpec(
        key="macd_trend",
        label="MACD trend",
        summary="MACD crossover confirmed by the higher-timeframe trend, a volume surge, an ATR/Bollinger "
        "volatility filter and an ADX regime filter.",
        warmup=200,
        params=(
            Param("fast_period", "int", 12, "MACD fast EMA length.", 2, 100),
            Param("slow_period", "int", 26, "MACD slow EMA length.", 3, 200),
            Param("signal_period", "int", 9, "MACD signal EMA length.", 2, 100),
            Param("trend_ema_period", "int", 50, "Higher-timeframe EMA that must agree with the trade.", 5, 400),
            Param("volume_surge", "decimal", D("1.5"), "Volume over its 20-bar mean needed to enter.", D("0"), D("20")),
            Param("adx_min", "decimal", D("20"), "Minimum ADX: below it the market is ranging.", D("0"), D("100")),
            Param("atr_max_pct", "decimal", D("5"), "Skip entries when ATR exceeds this % of price.", D("0"), D("100")),
            Param("order_quote", "decimal", D("100"), "Quote currency spent per entry.", D("0.00000001"), None),
        ),
    )
)

register(
    StrategySpec(
        key="rsi_bb_atr",
        label="RSI + Bollinger + ATR",
        summary="Buys an oversold RSI at the lower Bollinger band on rising volume; exits at an ATR stop-loss "
        "or take-profit.",
        warmup=50,
        params=(
            Param("rsi_period", "int", 14, "RSI length.", 2, 100),
            Param("rsi_oversold", "decimal", D("30"), "RSI at or below which the market is oversold.", D("1"), D("50")),
            Param("bb_period", "int", 20, "Bollinger band length.", 2, 200),
            Param("bb_stddev", "decimal", D("2"), "Bollinger band width in standard deviations.", D("0.5"), D("5")),
            Param("volume_ratio", "decimal", D("1.2"), "Volume over its mean needed to enter.", D("0"), D("20")),
            Param("atr_period", "int", 14, "ATR length.", 2, 100),
            Param("stop_atr", "decimal", D("2"), "Stop-loss distance in ATRs.", D("0.1"), D("20")),
            Param("take_profit_atr", "decimal", D("3"), "Take-profit distance in ATRs.", D("0.1"), D("50")),
            Param("order_quote", "decimal", D("100"), "Quote currency spent per entry.", D("0.00000001"), None),
        ),
    )
)

register(
    StrategySpec(
        key="grid",
        label="Grid",
        summary="Rests buy and sell orders at levels between a lower and an upper bound, evenly or at "
        "Fibonacci ratios, and re-arms a level when it fills.",
        params=(
            Param("lower_price", "decimal", D("0"), "Lowest level (0: 10% under the price at start).", D("0"), None),
            Param("upper_price", "decimal", D("0"), "Highest level (0: 10% over the price at start).", D("0"), None),
            Param("levels", "int", 10, "Number of grid levels.", 2, 200),
            Param("spacing", "str", "linear", "How levels are spread.", choices=("linear", "fibonacci")),
            Param("order_amount", "decimal", D("0.001"), "Base amount per level.", D("0.00000001"), None),
        ),
    )
)

register(
    StrategySpec(
        key="pure_market_making",
        label="Pure market making",
        summary="Quotes a bid and an ask around the mid price, refreshes them on a timer and skews sizes "
        "toward a target inventory.",
        timeframe="1m",
        params=(
            Param("bid_spread", "decimal", D("0.1"), "Bid distance from mid, in %.", D("0.001"), D("50")),
            Param("ask_spread", "decimal", D("0.1"), "Ask distance from mid, in %.", D("0.001"), D("50")),
            Param("order_amount", "decimal", D("0.001"), "Base amount per order.", D("0.00000001"), None),
            Param("order_refresh_time", "int", 30, "Seconds before orders are replaced.", 1, 86400),
            Param("inventory_skew_enabled", "bool", True, "Size orders to pull inventory toward the target."),
            Param(
                "inventory_target_base_pct", "decimal", D("50"), "Target base share of value, in %.", D("0"), D("100")
            ),
            Param("price_ceiling", "decimal", D("0"), "No sell below / buy above this (0: off).", D("0"), None),
            Param("price_floor", "decimal", D("0"), "No buy below this (0: off).", D("0"), None),
        ),
    )
)

register(
    StrategySpec(
        key="momentum_reentry",
        label="Momentum with re-entry",
        summary="Enters a breakout on a volume spike, rides it with a trailing stop and re-enters after a "
        "pullback that holds.",
        warmup=60,
        params=(
            Param("breakout_period", "int", 20, "Bars whose high must be broken.", 2, 500),
            Param("volume_spike", "decimal", D("2"), "Volume over its mean needed to enter.", D("0"), D("50")),
            Param("trailing_stop_pct", "decimal", D("2"), "Trailing stop distance, in %.", D("0.1"), D("50")),
            Param(
                "reentry_pullback_pct",
                "decimal",
                D("1"),
                "Pullback from the high that allows re-entry, in %.",
                D("0.1"),
                D("50"),
            ),
            Param("max_reentries", "int", 2, "Re-entries allowed per trend.", 0, 20),
            Param("order_quote", "decimal", D("100"), "Quote currency spent per entry.", D("0.00000001"), None),
        ),
    )
)

register(
    StrategySpec(
        key="arbitrage",
        label="Two-exchange arbitrage",
        summary="Buys on one account and sells on the other when the spread beats both fees plus a threshold.",
        timeframe="1m",
        needs_second_account=True,
        params=(
            Param("min_profit_pct", "decimal", D("0.3"), "Spread over fees needed to act, in %.", D("0"), D("50")),
            Param("order_amount", "decimal", D("0.001"), "Base amount per leg.", D("0.00000001"), None),
            Param("fee_pct_a", "decimal", D("0.1"), "Taker fee on the first account, in %.", D("0"), D("5")),
            Param("fee_pct_b", "decimal", D("0.1"), "Taker fee on the second account, in %.", D("0"), D("5")),
        ),
    )
)
