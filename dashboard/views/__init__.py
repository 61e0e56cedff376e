"""Customer pages. Every read is scoped to the organizations the user belongs to, and to the one
selected in the session; writes check the member's role and then call a service."""

from dashboard.views.accounts import account_verify, accounts
from dashboard.views.api_keys import api_key_revoke_view, api_keys
from dashboard.views.backtests import backtest_detail, backtests
from dashboard.views.base import healthz, organization_switch
from dashboard.views.bots import bot_detail, bot_edit, bot_new, bot_order_view, bot_start_view, bot_stop_view, home
from dashboard.views.dex import dex, dex_sniper, dex_swap_detail, dex_swaps
from dashboard.views.hummingbot import hummingbot
from dashboard.views.risk import kill_switch, risk
from dashboard.views.signals import signal_detail, signal_sources, signals
from dashboard.views.telegram import telegram

__all__ = [
    "account_verify",
    "accounts",
    "api_key_revoke_view",
    "api_keys",
    "backtest_detail",
    "backtests",
    "bot_detail",
    "bot_edit",
    "bot_new",
    "bot_order_view",
    "bot_start_view",
    "bot_stop_view",
    "dex",
    "dex_sniper",
    "dex_swap_detail",
    "dex_swaps",
    "healthz",
    "home",
    "hummingbot",
    "kill_switch",
    "organization_switch",
    "risk",
    "signal_detail",
    "signal_sources",
    "signals",
    "telegram",
]
