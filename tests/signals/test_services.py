from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import BotEvent
from core.errors import ApplicationError, PermissionDeniedError
from organizations.models import Role
from signals.models import Signal, SignalSource
from signals.services import signal_record, source_create, source_update, webhook_token_rotate
from tests.factories import MembershipFactory, SignalSourceFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_source_is_created_and_audited(org_a, alice):
    src = source_create(organization=org_a, user=alice, name="Engine", kind="engine", weight="2.5")
    assert src.weight == Decimal("2.500")
    event = BotEvent.objects.get(kind="signal.source_created")
    assert event.organization_id == org_a.pk and event.bot_id is None


def test_a_viewer_cannot_add_a_source(org_a):
    viewer = UserFactory()
    MembershipFactory(user=viewer, organization=org_a, role=Role.VIEWER)
    with pytest.raises(PermissionDeniedError):
        source_create(organization=org_a, user=viewer, name="Engine", kind="engine")
    assert not SignalSource.objects.exists()


def test_a_duplicate_name_and_a_bad_weight_are_refused(org_a):
    source_create(organization=org_a, name="Engine", kind="engine")
    with pytest.raises(ApplicationError) as e:
        source_create(organization=org_a, name="Engine", kind="ai")
    assert e.value.field == "name"
    with pytest.raises(ApplicationError) as e:
        source_create(organization=org_a, name="Other", kind="engine", weight="101")
    assert e.value.field == "weight"
    with pytest.raises(ApplicationError):
        source_update(signal_source=SignalSource.objects.get(), kind="ai")


def test_a_signal_is_recorded_with_default_validity_and_refused_twice_for_one_bar(org_a):
    src = SignalSourceFactory(organization=org_a)
    now = timezone.now()
    bar = now.replace(minute=0, second=0, microsecond=0)
    sig = signal_record(
        signal_source=src, symbol="btc/usdt", timeframe="1h", side="buy", confidence=0.81234, bar_ts=bar, now=now
    )
    assert sig.symbol == "BTC/USDT" and sig.confidence == Decimal("0.8123")
    assert sig.valid_until == now + timedelta(hours=3)
    with pytest.raises(ApplicationError) as e:
        signal_record(signal_source=src, symbol="BTC/USDT", timeframe="1h", side="sell", confidence=1, bar_ts=bar)
    assert e.value.field == "bar_ts"
    assert Signal.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("confidence", {"confidence": "1.2"}),
        ("confidence", {"confidence": "nan"}),
        ("side", {"side": "long"}),
        ("timeframe", {"timeframe": "7m"}),
        ("symbol", {"symbol": "BTCUSDT"}),
        ("price", {"price": "-1"}),
    ],
)
def test_bad_values_store_nothing(org_a, field, values):
    src = SignalSourceFactory(organization=org_a)
    args = {"symbol": "BTC/USDT", "timeframe": "1h", "side": "buy", "confidence": "0.5", **values}
    with pytest.raises(ApplicationError) as e:
        signal_record(signal_source=src, **args)
    assert e.value.field == field
    assert not Signal.objects.exists()


def test_a_confident_signal_writes_an_event_that_alert_rules_see(org_a):
    src = SignalSourceFactory(organization=org_a, alert_min_confidence=Decimal("0.7"))
    signal_record(signal_source=src, symbol="BTC/USDT", timeframe="1h", side="sell", confidence="0.69")
    assert not BotEvent.objects.filter(kind="signal.recorded").exists()
    sig = signal_record(signal_source=src, symbol="BTC/USDT", timeframe="1h", side="sell", confidence="0.7")
    event = BotEvent.objects.get(kind="signal.recorded")
    assert event.data["signal_id"] == sig.pk and event.level == "warning"


def test_rotating_a_webhook_stores_only_the_digest(org_a):
    src = SignalSourceFactory(organization=org_a, kind="webhook")
    token, secret = webhook_token_rotate(signal_source=src)
    src.refresh_from_db()
    assert src.webhook_token_hash and token not in src.webhook_token_hash
    assert src.webhook_hmac_secret == secret
    assert token not in str(BotEvent.objects.values_list("message", "data")[::1])


def test_receivers_get_the_stored_row_once_the_transaction_commits(org_a, django_capture_on_commit_callbacks):
    from signals.signals import signal_recorded

    got = []

    def receiver(sender, row, **kwargs):
        got.append(row.pk)

    signal_recorded.connect(receiver)
    try:
        src = SignalSourceFactory(organization=org_a)
        with django_capture_on_commit_callbacks(execute=True):
            sig = signal_record(signal_source=src, symbol="BTC/USDT", timeframe="1h", side="buy", confidence="0.5")
            assert got == []
        assert got == [sig.pk]
    finally:
        signal_recorded.disconnect(receiver)
