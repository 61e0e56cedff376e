"""The built-in strategies, one module each. Importing this package registers all of them; the
rules of each strategy are in its module docstring and in docs/strategies.md."""

from strategies.builtin import (  # noqa: F401 - each module registers its spec on import
    arbitrage,
    cex_dex_arbitrage,
    grid,
    macd_trend,
    momentum_reentry,
    pure_market_making,
    rsi_bb_atr,
    signal_follower,
)
