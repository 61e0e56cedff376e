"""What a bot must satisfy to be saved or started; shared by model validation and services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import ApplicationError
from strategies.registry import get as get_strategy
from strategies.registry import params_to_json, validate_params

if TYPE_CHECKING:
    from bots.models import Bot


def bot_validate(*, bot: Bot) -> None:
    """Check what a bot needs to run: known strategy, valid params, usable accounts in its org."""
    bot.params = params_to_json(validate_params(bot.strategy, bot.params))
    if not bot.exchange_account_id:
        raise ApplicationError("Choose an exchange account.", field="exchange_account")
    account = bot.exchange_account
    if account.organization_id != bot.organization_id:
        raise ApplicationError("The exchange account belongs to another organization.", field="exchange_account")
    second = bot.secondary_exchange_account
    if second is not None and second.organization_id != bot.organization_id:
        raise ApplicationError(
            "The second exchange account belongs to another organization.", field="secondary_exchange_account"
        )
    if get_strategy(bot.strategy).needs_second_account and second is None:
        raise ApplicationError(
            f"{bot.strategy} trades across two accounts: choose a second one.", field="secondary_exchange_account"
        )
    for which, acc in (("exchange_account", account), ("secondary_exchange_account", second)):
        if acc is None:
            continue
        if bot.mode == "paper" and not acc.is_simulated:
            raise ApplicationError(
                "A paper bot must use paper accounts (the paper exchange, or a paper DEX account).", field=which
            )
        if bot.mode == "live" and acc.is_simulated:
            raise ApplicationError("A live bot needs real exchange accounts, not a paper one.", field=which)
    _market_validate(bot, account)


def _market_validate(bot: Bot, account) -> None:
    """Spot or perpetual: the symbol's form, the leverage, the margin mode and the strategy's
    direction must agree, and a live account's exchange must list perpetuals."""
    from decimal import Decimal

    from exchanges.venues import is_perp_symbol, market_types

    perp = bot.market_type == "perp"
    if bot.market_type not in ("spot", "perp"):
        raise ApplicationError("The market type is spot or perp.", field="market_type")
    if perp and not is_perp_symbol(bot.symbol):
        quote = bot.symbol.partition("/")[2] or "USDT"
        raise ApplicationError(
            f"A perpetual is named BASE/QUOTE:SETTLE, e.g. {bot.symbol or 'BTC/USDT'}:{quote}.", field="symbol"
        )
    if not perp and is_perp_symbol(bot.symbol):
        raise ApplicationError(f"{bot.symbol} is a perpetual: set the market type to perp.", field="market_type")
    leverage = Decimal(bot.leverage)
    if leverage < 1:
        raise ApplicationError("Leverage is at least 1.", field="leverage")
    if not perp and leverage != 1:
        raise ApplicationError("Spot trades without leverage: leave it at 1 or choose a perpetual.", field="leverage")
    if bot.margin_mode not in ("isolated", "cross"):
        raise ApplicationError("The margin mode is isolated or cross.", field="margin_mode")
    if perp and not account.is_paper and not any(t in ("swap", "linear") for t in market_types(account.exchange)):
        raise ApplicationError(
            f"{account.exchange} lists no perpetuals here: use hyperliquid, binanceusdm or bybit.", field="market_type"
        )
    if perp and account.is_paper and leverage > account.paper_max_leverage:
        raise ApplicationError(
            f"The paper exchange allows at most {account.paper_max_leverage}x leverage.", field="leverage"
        )
    from exchanges.venues import external_venue

    venue = external_venue(account.exchange)
    if venue is not None and not venue.has_volume and Decimal(str((bot.params or {}).get("volume_spike", 0))) > 0:
        raise ApplicationError(
            f"{venue.label} candles carry no traded volume: set volume_spike to 0 to trade without the volume test.",
            field="params.volume_spike",
        )
    direction = (bot.params or {}).get("direction", "long")
    if not perp and direction != "long":
        raise ApplicationError(
            f"A spot bot cannot sell short: direction '{direction}' needs a perpetual market.", field="params.direction"
        )
