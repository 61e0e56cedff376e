"""The demo seed creates a usable organization, and running it again changes nothing."""

import pytest
from django.core.management import call_command

from bots.models import Bot
from exchanges.models import ExchangeAccount
from organizations.models import Membership, Organization
from risk.models import RiskLimits
from strategies.registry import all_specs
from tests.bots.test_runtime import market  # noqa: F401 - candles in the store and a fixed paper clock


def snapshot() -> dict:
    return {
        model.__name__: sorted(model.objects.values_list("pk", "updated_at" if hasattr(model, "updated_at") else "pk"))
        for model in (Organization, Membership, ExchangeAccount, Bot, RiskLimits)
    } | {"memberships": sorted(Membership.objects.values_list("user__username", "role"))}


@pytest.mark.django_db
def test_it_seeds_an_owner_a_viewer_a_paper_account_and_every_strategy(capsys):
    call_command("seed_demo")
    org = Organization.objects.get(slug="demo")
    roles = dict(Membership.objects.filter(organization=org).values_list("user__username", "role"))
    assert roles == {"owner": "owner", "viewer": "viewer"}
    assert ExchangeAccount.objects.filter(organization=org, exchange="paper").count() == 3
    # Every strategy but the one that trades a DEX: its second account needs a running Gateway,
    # which the demo does not have (docs/dex.md tells how to add one).
    seeded = set(Bot.objects.filter(organization=org).values_list("strategy", flat=True))
    assert seeded == {s.key for s in all_specs()} - {"cex_dex_arbitrage"}
    for bot in Bot.objects.filter(organization=org):
        bot.full_clean()  # params are valid for their strategy
    assert "owner / owner-demo" in capsys.readouterr().out


@pytest.mark.django_db
def test_running_it_twice_changes_nothing(capsys):
    call_command("seed_demo")
    first = snapshot()
    call_command("seed_demo")
    assert snapshot() == first
    assert "(0 new rows)" in capsys.readouterr().out


@pytest.mark.django_db
def test_it_refuses_production_settings(settings):
    from django.core.management import CommandError

    settings.SETTINGS_MODULE = "config.settings.production"
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo")


@pytest.mark.django_db
def test_the_perp_macd_bot_runs_on_the_paper_exchange(market):  # noqa: F811
    from bots.runtime import bot_tick
    from bots.services import bot_start

    call_command("seed_demo")
    bot = Bot.objects.get(organization__slug="demo", market_type="perp")
    assert (bot.strategy, bot.symbol, bot.leverage, bot.params["direction"]) == (
        "macd_trend",
        "BTC/USDT:USDT",
        3,
        "both",
    )
    assert bot.exchange_account.paper_funding_interval_hours == 1  # Hyperliquid pays hourly
    limits = RiskLimits.objects.get(bot=bot)
    assert (limits.default_stop_loss_pct, limits.max_leverage) == (2, 5)
    bot.full_clean()
    bot_start(bot=bot)
    result = bot_tick(bot_id=bot.pk)
    assert result.outcome == "ticked", result.note
    assert Bot.objects.get(pk=bot.pk).status == "running"
