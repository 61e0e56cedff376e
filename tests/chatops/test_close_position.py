"""A manual close from Telegram, end to end: /positions, the Close button, the question, and the
confirmed market order on the paper exchange through `position_close` (role-checked, audited
with Telegram as the source, let out by an engaged kill switch, never placed twice)."""

from decimal import Decimal

import pytest

from bots.models import BotEvent, Order, Position
from bots.runtime import bot_tick
from bots.services import position_close
from chatops.services import link_claim, link_code_create
from core.errors import ApplicationError
from organizations.models import Role
from risk.services import kill_switch_engage
from tests.bots.test_runtime import make_bot, market  # noqa: F401 - candles and a fixed paper clock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("market")]
CHAT = 7171


def holding(org):
    bot = make_bot(org, "buy")
    bot_tick(bot_id=bot.pk)
    return Position.objects.get(bot=bot, closed_at__isnull=True)


def test_a_trader_closes_a_position_from_the_positions_list(running_bot, botapi, member, org_a, alice):
    position = holding(org_a)
    held = position.quantity
    trader = member(Role.TRADER)
    link_claim(code=link_code_create(user=trader)[0], chat_id=CHAT)
    kill_switch_engage(organization=org_a, user=alice, reason="incident")  # closing still passes

    botapi.send_text(CHAT, "/positions")
    listing = botapi.wait_sent(CHAT, 1)[-1]
    assert f"#{position.pk} {position.bot.name}: long {position.quantity.normalize():f} BTC/USDT" in listing.text
    botapi.press(listing, f"close:{position.pk}")
    question = botapi.wait_sent(CHAT, 2)[-1]
    assert question.text.startswith(f"Close #{position.pk}:") and "market sell" in question.text
    assert Position.objects.get(pk=position.pk).closed_at is None  # nothing before Yes
    botapi.press(question, f"do:close:{position.pk}")
    done = botapi.wait_sent(CHAT, 3)[-1].text
    assert done.startswith(f"Market sell {position.quantity.normalize():f} BTC/USDT") and "filled" in done

    position.refresh_from_db()
    assert position.closed_at is not None and position.exit_reason == "manual"
    order = Order.objects.get(bot=position.bot, tag="close")
    assert (order.side, order.type, order.amount, order.status) == ("sell", "market", held, "filled")
    event = BotEvent.objects.get(kind="position.closed_manually")
    assert event.source == "telegram" and event.actor == trader

    # The same button pressed again finds nothing to close and places nothing.
    botapi.press(question, f"do:close:{position.pk}")
    assert f"No open position #{position.pk}" in botapi.wait_sent(CHAT, 4)[-1].text
    assert Order.objects.filter(tag="close").count() == 1


def test_a_viewer_is_refused_and_another_organizations_position_is_unknown(running_bot, botapi, member, org_a, org_b):
    ours, theirs = holding(org_a), holding(org_b)
    link_claim(code=link_code_create(user=member(Role.VIEWER))[0], chat_id=CHAT)
    botapi.send_text(CHAT, f"/close {ours.pk}")
    question = botapi.wait_sent(CHAT, 1)[-1]
    botapi.press(question, f"do:close:{ours.pk}")
    assert "needs the trader role" in botapi.wait_sent(CHAT, 2)[-1].text
    botapi.send_text(CHAT, f"/close {theirs.pk}")
    assert f"No open position #{theirs.pk}" in botapi.wait_sent(CHAT, 3)[-1].text
    botapi.send_text(CHAT, "/close everything")
    assert "by its number" in botapi.wait_sent(CHAT, 4)[-1].text
    assert not Order.objects.filter(tag="close").exists()
    assert Position.objects.filter(closed_at__isnull=True).count() == 2


def test_position_close_refuses_a_closed_position_and_a_hummingbot_bot(org_a, alice):
    position = holding(org_a)
    position_close(position=position, user=alice)
    with pytest.raises(ApplicationError, match="already closed"):
        position_close(position=position, user=alice)
    position = holding(org_a)
    type(position.bot).objects.filter(pk=position.bot_id).update(execution="hummingbot")
    with pytest.raises(ApplicationError, match="its positions are managed there"):
        position_close(position=position, user=alice)
    assert Position.objects.get(pk=position.pk).closed_at is None
    assert Order.objects.filter(tag="close").count() == 1
    assert position.quantity > Decimal("0")


def test_pressing_yes_twice_before_the_fill_is_known_places_one_order(org_a, alice):
    position = holding(org_a)
    first = position_close(position=position, user=alice)
    Position.objects.filter(pk=position.pk).update(closed_at=None, quantity=position.quantity)  # as if not yet filled
    again = position_close(position=position, user=alice)
    assert again.pk == first.pk and Order.objects.filter(tag="close").count() == 1
