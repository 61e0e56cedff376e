"""Perpetual bots over the API: market type, leverage and margin mode on the bot; the perp
figures of its positions, its funding ledger, reduce-only and trigger orders, liquidation fills."""

from decimal import Decimal

import pytest

from bots.models import Bot
from tests.api.conftest import error_of
from tests.factories import BotFactory, ExchangeAccountFactory, FundingPaymentFactory, perp_bot_with_history

pytestmark = pytest.mark.django_db
PERP = "BTC/USDT:USDT"


def perp_body(account, **changes):
    body = {
        "name": "MACD perp",
        "strategy": "macd_trend",
        "exchange_account": account.pk,
        "symbol": PERP,
        "market_type": "perp",
        "leverage": "3",
        "margin_mode": "cross",
        "params": {"direction": "both"},
    }
    return {**body, **changes}


def test_a_perp_bot_is_created_with_its_leverage_and_margin_mode(client_for, alice, org_a):
    account = ExchangeAccountFactory(organization=org_a)
    response = client_for(alice).post("/api/v1/bots/", perp_body(account), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["market_type"], Decimal(data["leverage"]), data["margin_mode"]) == ("perp", 3, "cross")
    bot = Bot.objects.get(pk=data["id"])
    assert (bot.market_type, bot.leverage, bot.params["direction"]) == ("perp", Decimal(3), "both")


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"symbol": "BTC/USDT"}, "symbol", "A perpetual is named BASE/QUOTE:SETTLE, e.g. BTC/USDT:USDT."),
        ({"market_type": "spot"}, "market_type", "BTC/USDT:USDT is a perpetual: set the market type to perp."),
        (
            {"market_type": "spot", "symbol": "BTC/USDT", "params": {}},
            "leverage",
            "Spot trades without leverage: leave it at 1 or choose a perpetual.",
        ),
        (
            {"market_type": "spot", "symbol": "BTC/USDT", "leverage": "1"},
            "params",
            "A spot bot cannot sell short: direction 'both' needs a perpetual market.",
        ),
        ({"leverage": "80"}, "leverage", "The paper exchange allows at most 50x leverage."),
    ],
)
def test_a_perp_setting_that_does_not_fit_is_refused_clearly(client_for, alice, org_a, changes, field, message):
    account = ExchangeAccountFactory(organization=org_a)
    response = client_for(alice).post("/api/v1/bots/", perp_body(account, **changes), format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert (error["field"], error["message"]) == (field, message)
    assert not Bot.objects.filter(organization=org_a).exists()


def test_a_spot_exchange_cannot_host_a_perp_bot(client_for, alice, org_a):
    account = ExchangeAccountFactory(organization=org_a, exchange="binance")
    response = client_for(alice).post("/api/v1/bots/", perp_body(account, mode="live"), format="json")
    assert response.status_code == 400
    assert error_of(response)["message"] == "binance lists no perpetuals here: use hyperliquid, binanceusdm or bybit."


def test_positions_orders_fills_and_funding_carry_the_perp_figures(client_for, alice, org_a, org_b):
    bot = perp_bot_with_history(org_a)
    FundingPaymentFactory(bot=BotFactory(organization=org_b))  # another organization's
    client = client_for(alice)

    [position] = client.get(f"/api/v1/bots/{bot.pk}/positions/").json()["results"]
    assert Decimal(position["quantity"]) == Decimal("-0.5")
    assert Decimal(position["liquidation_price"]) == Decimal("35643.56")
    assert (Decimal(position["mark_price"]), Decimal(position["unrealized_pnl"])) == (29100, 450)
    assert (Decimal(position["margin_used"]), Decimal(position["funding"])) == (3000, Decimal("1.25"))

    [order] = client.get(f"/api/v1/bots/{bot.pk}/orders/").json()["results"]
    assert (order["reduce_only"], Decimal(order["trigger_price"]), order["trigger_kind"]) == (True, 31500, "sl")
    [fill] = client.get(f"/api/v1/bots/{bot.pk}/fills/").json()["results"]
    assert fill["liquidation"] is True

    [payment] = client.get(f"/api/v1/bots/{bot.pk}/funding/").json()["results"]
    assert Decimal(payment["amount"]) == Decimal("1.25") and payment["symbol"] == PERP
    foreign = BotFactory(organization=org_b)
    assert client.get(f"/api/v1/bots/{foreign.pk}/funding/").status_code == 404
