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
    if bot.mode == "paper" and not account.is_paper:
        raise ApplicationError("A paper bot must use a paper exchange account.", field="exchange_account")
    if bot.mode == "live" and account.is_paper:
        raise ApplicationError(
            "A live bot needs a real exchange account, not the paper exchange.", field="exchange_account"
        )
