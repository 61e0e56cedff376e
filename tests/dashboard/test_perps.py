"""The dashboard for a perpetual bot: its market settings in the form, and on its page the
position's live figures, the funding ledger, reduce-only and trigger orders, liquidation fills."""

from decimal import Decimal

import pytest
from django.urls import reverse

from bots.live import fill_payload, order_payload, position_payload
from bots.models import Bot
from organizations.models import Role
from tests.factories import (
    BotFactory,
    ExchangeAccountFactory,
    FillFactory,
    OrderFactory,
    PositionFactory,
    perp_bot_with_history,
)

pytestmark = pytest.mark.django_db
PERP = "BTC/USDT:USDT"


def form_data(account, **changes):
    data = {
        "name": "Perp MACD",
        "strategy": "macd_trend",
        "exchange_account": account.pk,
        "symbol": PERP,
        "market_type": "perp",
        "leverage": "4",
        "margin_mode": "isolated",
        "mode": "paper",
        "execution": "native",
        "tick_interval": "60",
        "capital": "1000",
        "params": '{"direction": "short"}',
    }
    return {**data, **changes}


def test_a_trader_creates_a_perp_bot_from_the_form(client, member, org_a):
    client.force_login(member(Role.TRADER))
    account = ExchangeAccountFactory(organization=org_a)
    response = client.post(reverse("dashboard:bot_new"), form_data(account))
    assert response.status_code == 302, response.content.decode()[:3000]
    bot = Bot.objects.get(organization=org_a)
    assert (bot.market_type, bot.leverage, bot.margin_mode, bot.params["direction"]) == (
        "perp",
        Decimal(4),
        "isolated",
        "short",
    )


def test_the_form_refuses_a_short_spot_bot_and_writes_nothing(client, member, org_a):
    client.force_login(member(Role.TRADER))
    account = ExchangeAccountFactory(organization=org_a)
    response = client.post(
        reverse("dashboard:bot_new"), form_data(account, market_type="spot", symbol="BTC/USDT", leverage="1")
    )
    assert response.status_code == 400
    assert "A spot bot cannot sell short: direction &#x27;short&#x27; needs a perpetual market." in (
        response.content.decode()
    )
    assert not Bot.objects.filter(organization=org_a).exists()


def test_the_perp_bot_page_shows_the_position_funding_triggers_and_liquidations(client, alice, org_a):
    bot = perp_bot_with_history(org_a)
    client.force_login(alice)
    html = client.get(reverse("dashboard:bot", args=[bot.pk])).content.decode()
    assert "Perpetual · 5x isolated" in html
    assert 'data-field="liquidation_price">35643.56<' in html
    assert 'data-field="side">short<' in html and 'data-field="mark_price">29100<' in html
    assert 'data-field="margin_used">3000<' in html and 'data-field="funding">1.25<' in html
    assert 'id="funding"' in html and "-0.0001" in html
    assert "market sl @ 31500 · reduce-only" in html
    assert "liquidation</span>" in html

    spot = BotFactory(organization=org_a)
    assert "Liq. price" not in client.get(reverse("dashboard:bot", args=[spot.pk])).content.decode()


def test_the_live_frames_carry_the_perp_fields():
    bot = BotFactory(symbol=PERP, market_type="perp", leverage=Decimal(5))
    position = PositionFactory(bot=bot, symbol=PERP, liquidation_price=Decimal("25000"), margin_used=Decimal("60"))
    frame = position_payload(position)
    assert (frame["liquidation_price"], frame["margin_used"], frame["funding"]) == ("25000", "60", "0")
    order = OrderFactory(bot=bot, symbol=PERP, reduce_only=True, trigger_price=Decimal("27000"), trigger_kind="tp")
    assert {k: order_payload(order)[k] for k in ("reduce_only", "trigger_price", "trigger_kind")} == {
        "reduce_only": True,
        "trigger_price": "27000",
        "trigger_kind": "tp",
    }
    assert fill_payload(FillFactory(order=order, bot=bot, liquidation=True))["liquidation"] is True
