"""The tick's hand-written reads return exactly what the ORM returns, field by field, both the
single-statement JSON snapshot (PostgreSQL) and the per-table statements (other databases)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bots import tick_sql
from bots.models import Order, Position
from exchanges.models import ExchangeAccount
from risk.models import KillSwitch, RiskLimits
from tests.factories import BotFactory, ExchangeAccountFactory, OrderFactory

pytestmark = pytest.mark.django_db


def same(a, b, skip=()):
    for field in type(a)._meta.concrete_fields:
        if field.attname in skip:
            continue
        left, right = getattr(a, field.attname), getattr(b, field.attname)
        assert left == right and type(left) is type(right), (field.attname, left, right)


@pytest.fixture
def bot(org_a):
    account = ExchangeAccountFactory(organization=org_a, exchange="paper", circuit_state="open")
    account.circuit_changed_at = timezone.now()
    account.save()
    return BotFactory(organization=org_a, exchange_account=account)


def test_snapshot_matches_the_orm(bot, org_a, org_b):
    now = timezone.now()
    OrderFactory(bot=bot, status="open", price=Decimal("12345.123456789012345678"), raw={"a": [1, "x"]}, tag="bid")
    OrderFactory(
        bot=bot, status="partially_filled", filled=Decimal("0.005"), submitted_at=now, type="market", price=None
    )
    OrderFactory(bot=bot, status="filled", filled=Decimal("0.01"))  # today, not open
    OrderFactory(bot=bot, status="rejected")  # today, not counted
    Position.objects.create(
        organization=org_a, bot=bot, symbol="BTC/USDT", quantity=Decimal("-0.5"), average_entry_price=Decimal("3.25"),
        opened_at=now, closed_at=now - dt.timedelta(hours=1), realized_pnl=Decimal("-1.5"),
    )  # fmt: skip
    Position.objects.create(organization=org_a, bot=bot, symbol="BTC/USDT", quantity=Decimal("0.25"), opened_at=now)
    RiskLimits.objects.create(organization=org_a, max_order_notional=Decimal("100.5"), allowed_symbols=["BTC/USDT"])
    RiskLimits.objects.create(organization=org_a, bot=bot, max_open_orders=3, price_band_pct=Decimal("2"))
    RiskLimits.objects.create(organization=org_b, max_open_orders=1)  # another organization: not read
    KillSwitch.objects.create(organization=org_b, engaged=True)  # not ours
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)

    rows = tick_sql.snapshot_load(bot=bot, day_start=day, positions=50)
    assert rows.kill_switch is False and rows.orders_today == 3
    account = ExchangeAccount.objects.get(pk=bot.exchange_account_id)
    same(rows.account, account, skip={"api_key", "api_secret", "passphrase"})
    assert rows.account.api_key == account.api_key  # deferred, loads on access
    orm_orders = list(Order.objects.filter(bot=bot, status__in=["new", "open", "partially_filled"]).order_by("id"))
    assert len(rows.open_orders) == len(orm_orders) == 2
    for mine, theirs in zip(rows.open_orders, orm_orders, strict=True):
        same(mine, theirs)
    orm_positions = sorted(Position.objects.filter(bot=bot), key=lambda p: p.closed_at is not None)
    for mine, theirs in zip(rows.positions, orm_positions, strict=True):
        same(mine, theirs)
    orm_limits = sorted(RiskLimits.objects.filter(organization=org_a), key=lambda r: r.pk)
    for mine, theirs in zip(sorted(rows.limits, key=lambda r: r.pk), orm_limits, strict=True):
        same(mine, theirs)
    # The per-table statements give the same.
    assert tick_sql.flags_load(bot=bot, day_start=day) == (False, 3)
    for mine, theirs in zip(tick_sql.open_orders_load(bot=bot), orm_orders, strict=True):
        same(mine, theirs)
    KillSwitch.objects.create(organization=None, engaged=True)
    assert tick_sql.snapshot_load(bot=bot, day_start=day, positions=50).kill_switch is True
