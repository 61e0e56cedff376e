"""Signals raise alerts: a confident signal's `signal.recorded` event matches alert rules like any
event, is delivered through a real channel, and signals on different markets are different alerts."""

import json
from decimal import Decimal

import pytest

from alerts.models import Alert, DeliveryStatus
from signals.services import signal_record
from tests.alerts.conftest import rule, wait_delivered, webhook_channel
from tests.factories import SignalSourceFactory

transactional = pytest.mark.django_db(transaction=True)


@transactional
def test_a_confident_signal_is_delivered_to_the_rules_channel(org_a, receiver, celery_worker):
    channel = webhook_channel(org_a, receiver)
    rule(org_a, [channel], kinds=["signal."], min_level="warning")
    src = SignalSourceFactory(organization=org_a, name="Engine", alert_min_confidence=Decimal("0.8"))
    signal_record(signal_source=src, symbol="BTC/USDT", timeframe="1h", side="buy", confidence="0.79")
    assert not Alert.objects.exists()
    signal_record(signal_source=src, symbol="BTC/USDT", timeframe="1h", side="buy", confidence="0.85")

    alert = Alert.objects.get()
    assert alert.kind == "signal.recorded" and alert.organization_id == org_a.pk
    [delivery] = wait_delivered(alert)
    assert delivery.status == DeliveryStatus.SENT
    [received] = receiver.wait_for(1)
    body = json.loads(received.raw)
    assert "BTC/USDT" in json.dumps(body) and "0.85" in json.dumps(body)


@transactional
def test_signals_on_other_markets_or_sides_are_separate_alerts_and_repeats_fold(org_a, org_b, receiver):
    channel = webhook_channel(org_a, receiver)
    rule(org_a, [channel], kinds=["signal.recorded"], min_level="warning")
    src = SignalSourceFactory(organization=org_a, alert_min_confidence=Decimal("0.5"))
    other = SignalSourceFactory(organization=org_b, alert_min_confidence=Decimal("0.5"))
    for symbol, side in (("BTC/USDT", "buy"), ("BTC/USDT", "buy"), ("ETH/USDT", "buy"), ("BTC/USDT", "sell")):
        signal_record(signal_source=src, symbol=symbol, timeframe="1h", side=side, confidence="0.9")
    signal_record(signal_source=other, symbol="BTC/USDT", timeframe="1h", side="buy", confidence="0.9")
    alerts = sorted(Alert.objects.values_list("organization_id", "count"))
    assert alerts == [(org_a.pk, 1), (org_a.pk, 1), (org_a.pk, 2)]
