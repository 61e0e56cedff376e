"""A perpetual-futures bot on the paper exchange, tick by tick over the real BTC/USDT candles:
leverage set before the first order, shorts, reduce-only exits, position marks, funding on the
bot's ledger, liquidation (a fill, a critical event, an alert) and the kill switch's flatten."""

from decimal import ROUND_DOWN, Decimal

import pytest

from alerts.models import Alert
from bots.models import Bot, BotEvent, Fill, FundingPayment, Order, Position
from bots.runtime import bot_tick
from bots.services import bot_start
from bots.state import BotStatus
from core.errors import ApplicationError
from exchanges.models import PaperPosition
from exchanges.paper import paper_balance_set
from risk.services import kill_switch_action_set, kill_switch_engage
from tests.bots.test_runtime import market  # noqa: F401 - candles in the store and a fixed paper clock
from tests.factories import BotFactory, ExchangeAccountFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("market")]

PERP = "BTC/USDT:USDT"
HOUR = 3_600_000


def q(x: Decimal) -> Decimal:
    return x.quantize(Decimal("1e-18"), rounding=ROUND_DOWN)


def perp_bot(org, action, *, leverage="5", margin_mode="isolated", amount="0.1", **fields):
    account = ExchangeAccountFactory(organization=org, exchange="paper")
    paper_balance_set(account=account, asset="USDT", free=Decimal("100000"))
    bot = BotFactory(
        organization=org,
        exchange_account=account,
        strategy="scripted",
        params={"action": action, "amount": amount},
        symbol=PERP,
        market_type="perp",
        leverage=Decimal(leverage),
        margin_mode=margin_mode,
        tick_interval=5,
        **fields,
    )
    bot_start(bot=bot)
    return Bot.objects.select_related("exchange_account").get(pk=bot.pk)


def act(bot, action, amount="0.1"):
    Bot.objects.filter(pk=bot.pk).update(params={"action": action, "amount": amount}, next_tick_at=None)


def test_leverage_is_set_before_the_first_order_and_a_short_is_covered_reduce_only(org_a):
    bot = perp_bot(org_a, "sell")
    result = bot_tick(bot_id=bot.pk)
    assert result.placed == 1, result.note
    paper = PaperPosition.objects.get(account=bot.exchange_account, symbol=PERP)
    assert (paper.leverage, paper.margin_mode, paper.quantity) == (Decimal(5), "isolated", Decimal("-0.1"))
    assert Bot.objects.get(pk=bot.pk).state["margin"] == [PERP, "5.00", "isolated"]
    position = Position.objects.get(bot=bot, closed_at__isnull=True)
    assert position.quantity == Decimal("-0.1")
    entry = Order.objects.get(bot=bot, tag="entry")
    assert (entry.side, entry.reduce_only) == ("sell", False)

    act(bot, "exit")
    bot_tick(bot_id=bot.pk)
    cover = Order.objects.get(bot=bot, tag="exit")
    assert (cover.side, cover.reduce_only, cover.status) == ("buy", True, "filled")
    assert not Position.objects.filter(bot=bot, closed_at__isnull=True).exists()
    assert PaperPosition.objects.get(account=bot.exchange_account, symbol=PERP).quantity == 0


def test_a_refused_leverage_holds_the_orders_and_says_so_once(org_a):
    bot = perp_bot(org_a, "buy", leverage="40")
    bot.exchange_account.paper_max_leverage = 20  # the market now refuses 40x
    bot.exchange_account.save()
    bot_tick(bot_id=bot.pk)
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=None)
    bot_tick(bot_id=bot.pk)
    assert not Order.objects.filter(bot=bot).exists()
    [event] = BotEvent.objects.filter(bot=bot, kind="bot.margin_refused")
    assert "40.00x isolated" in event.message and "from 1x to 20x" in event.message


def test_the_open_position_shows_mark_unrealized_pnl_liquidation_price_and_margin(org_a, market):  # noqa: F811
    bot = perp_bot(org_a, "sell", leverage="10")
    bot_tick(bot_id=bot.pk)
    act(bot, "none")
    market.advance(10 * 60_000)  # two candles later
    bot_tick(bot_id=bot.pk)
    position = Position.objects.get(bot=bot, closed_at__isnull=True)
    paper = PaperPosition.objects.get(account=bot.exchange_account, symbol=PERP)
    entry = paper.entry_price
    mmr = Decimal(1) / Decimal(100)
    assert position.margin_used == paper.margin == q(Decimal("0.1") * entry / 10)
    assert position.liquidation_price == q((Decimal("0.1") * entry + paper.margin) / (Decimal("0.1") * (1 + mmr)))
    assert position.unrealized_pnl == q(Decimal("-0.1") * (position.mark_price - position.average_entry_price))
    assert position.mark_price > 0


def test_funding_payments_land_on_the_bots_ledger_and_in_its_position(org_a, market):  # noqa: F811
    bot = perp_bot(org_a, "buy", margin_mode="cross")
    bot_tick(bot_id=bot.pk)
    act(bot, "none")
    market.advance(17 * HOUR)
    bot_tick(bot_id=bot.pk)
    payments = list(FundingPayment.objects.filter(bot=bot).order_by("ts"))
    assert len(payments) >= 2
    for p in payments:
        assert p.amount == q(-p.position_quantity * p.mark_price * Decimal("0.0001"))  # longs pay
    position = Position.objects.get(bot=bot, closed_at__isnull=True)
    assert position.funding == sum(p.amount for p in payments) < 0
    # A later tick in the same hour stores nothing twice.
    Bot.objects.filter(pk=bot.pk).update(next_tick_at=None)
    market.advance(10 * 60_000)
    bot_tick(bot_id=bot.pk)
    assert FundingPayment.objects.filter(bot=bot).count() == len(payments)


def test_a_liquidation_is_a_fill_a_critical_event_and_an_alert(
    org_a,
    market,  # noqa: F811
    btc_candles,
    django_capture_on_commit_callbacks,
):
    bot = perp_bot(org_a, "buy", leverage="50", amount="1")
    bot_tick(bot_id=bot.pk)
    act(bot, "none")
    paper = PaperPosition.objects.get(account=bot.exchange_account, symbol=PERP)
    liquidation = q((paper.entry_price - paper.margin) / (1 - Decimal("0.01")))
    now = market.now_ms()
    hit = next(c for c in btc_candles if c.ts >= now and c.low <= liquidation)
    market.advance(hit.ts + 10 * 60_000 - now)
    with django_capture_on_commit_callbacks(execute=True):
        bot_tick(bot_id=bot.pk)
    fill = Fill.objects.get(bot=bot, liquidation=True)
    assert (fill.side, fill.amount, fill.price) == ("sell", Decimal(1), liquidation)
    assert fill.order.tag == "liquidation"
    assert not Position.objects.filter(bot=bot, closed_at__isnull=True).exists()
    event = BotEvent.objects.get(bot=bot, kind="position.liquidated")
    assert event.level == "critical" and str(liquidation) in event.message
    assert Alert.objects.filter(organization=org_a, kind="position.liquidated", bot=bot).exists()


def test_the_kill_switch_flattens_where_the_organization_chose_it(org_a, org_b, alice):
    flat = perp_bot(org_a, "sell")
    bot_tick(bot_id=flat.pk)
    kept = perp_bot(org_b, "buy")
    bot_tick(bot_id=kept.pk)
    kill_switch_action_set(organization=org_a, action="flatten", user=alice)
    kill_switch_engage(organization=org_a, user=alice, reason="exchange incident")
    kill_switch_engage(organization=org_b, reason="exchange incident")
    assert Bot.objects.get(pk=flat.pk).status == BotStatus.STOPPED
    close = Order.objects.get(bot=flat, tag="flatten")
    assert (close.side, close.reduce_only, close.amount, close.status) == ("buy", True, Decimal("0.1"), "filled")
    assert not Position.objects.filter(bot=flat, closed_at__isnull=True).exists()
    assert BotEvent.objects.filter(bot=flat, kind="risk.flattened").exists()
    # org_b kept the default: orders canceled, bot stopped, the position left open.
    assert Bot.objects.get(pk=kept.pk).status == BotStatus.STOPPED
    assert Position.objects.get(bot=kept, closed_at__isnull=True).quantity == Decimal("0.1")
    with pytest.raises(ApplicationError, match="cancel, flatten"):
        kill_switch_action_set(organization=org_a, action="panic", user=alice)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"market_type": "spot", "leverage": Decimal(3)}, "leverage", "Spot trades without leverage"),
        ({"market_type": "perp", "symbol": "BTC/USDT"}, "symbol", "BASE/QUOTE:SETTLE"),
        ({"market_type": "spot", "symbol": PERP}, "market_type", "is a perpetual"),
        ({"market_type": "perp", "symbol": PERP, "leverage": Decimal(80)}, "leverage", "at most 50x"),
        ({"market_type": "perp", "symbol": PERP, "margin_mode": "portfolio"}, "margin_mode", "isolated or cross"),
    ],
)
def test_a_bot_whose_market_settings_disagree_is_refused_clearly(org_a, fields, field, message):
    from bots.validation import bot_validate

    account = ExchangeAccountFactory(organization=org_a, exchange="paper")
    bot = BotFactory.build(organization=org_a, exchange_account=account, strategy="grid", **fields)
    with pytest.raises(ApplicationError, match=message) as refused:
        bot_validate(bot=bot)
    assert refused.value.field == field


def test_a_live_perp_bot_needs_an_exchange_that_lists_perpetuals(org_a):
    from bots.validation import bot_validate

    account = ExchangeAccountFactory(organization=org_a, exchange="kraken")
    bot = BotFactory.build(
        organization=org_a, exchange_account=account, strategy="grid", mode="live", market_type="perp", symbol=PERP
    )
    with pytest.raises(ApplicationError, match="lists no perpetuals"):
        bot_validate(bot=bot)
