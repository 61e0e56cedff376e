"""Hummingbot strategy configs from our bots and signals: a pure converter (no ORM, no I/O).

`convert(ConvertInput(...), target)` renders a bot as one of Hummingbot's strategies
(pure_market_making, avellaneda_market_making, cross_exchange_market_making, amm_arb) or as the
grid_strike V2 controller; `convert_signal(Signal(...), ...)` does the same for a trading signal.
The result is a `HummingbotConfig`: its YAML, the `/config` pairs, the conf_client.yml kill
switch and the `/balance/limit` calls that carry the bot's risk limits. The mapping, and what is
refused and why, is in docs/hummingbot.md ("Strategy configs").
"""

from hummingbot.converter.config import HummingbotConfig
from hummingbot.converter.convert import (
    SIGNAL_TYPES,
    SUPPORTED,
    TARGETS,
    ConvertInput,
    Signal,
    convert,
    convert_signal,
)
from hummingbot.converter.venues import connector_name, market_name

__all__ = [
    "SIGNAL_TYPES",
    "SUPPORTED",
    "TARGETS",
    "ConvertInput",
    "HummingbotConfig",
    "Signal",
    "connector_name",
    "convert",
    "convert_signal",
    "market_name",
]
