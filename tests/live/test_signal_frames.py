"""A recorded trading signal reaches the organization's live sockets as a `signal` frame, through
the real ASGI application and channels-redis layer, once its transaction commits."""

import datetime as dt
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from signals.services import signal_record
from tests.factories import SignalSourceFactory
from tests.live.test_consumer import ORIGIN, QUIET, Rollback, frames_until, open_socket, run, session_header

pytestmark = pytest.mark.django_db(transaction=True)

BAR = dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC)


def record(source, **overrides):
    values = {
        "signal_source": source,
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "side": "buy",
        "confidence": "0.8125",
        "price": Decimal("97123.45"),
        "bar_ts": BAR,
        **overrides,
    }
    return signal_record(**values)


def is_signal(frame) -> bool:
    return frame["kind"] == "signal"


def test_a_member_receives_the_signal_frame_after_commit(alice, org_a):
    source = SignalSourceFactory(organization=org_a, name="engine-a")
    session = session_header(alice)

    async def scenario():
        socket = await open_socket(ORIGIN, session)
        signal = await database_sync_to_async(record)(source)
        frames = await frames_until(socket, is_signal)
        await socket.disconnect()
        return signal, frames[-1]

    signal, frame = run(scenario)
    assert frame["organization"] == org_a.pk
    assert frame["signal"] == {
        "id": signal.pk,
        "source": source.pk,
        "source_name": "engine-a",
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "side": "buy",
        "kind": "directional",
        "confidence": "0.8125",
        "price": "97123.45",
        "created_at": signal.created_at.isoformat(),
        "valid_until": signal.valid_until.isoformat(),
    }


def test_another_organization_receives_no_signal_frame(alice, bob, org_a, org_b):
    ours, theirs = SignalSourceFactory(organization=org_a), SignalSourceFactory(organization=org_b)
    alice_session, bob_session = session_header(alice), session_header(bob)

    async def scenario():
        bobs = await open_socket(ORIGIN, bob_session)
        alices = await open_socket(ORIGIN, alice_session)
        await database_sync_to_async(record)(ours)
        await frames_until(alices, is_signal)
        assert await bobs.receive_nothing(timeout=QUIET)
        # Bob's socket works: his own organization's signal arrives, and only there.
        await database_sync_to_async(record)(theirs, symbol="ETH/USDT")
        got = await frames_until(bobs, is_signal)
        assert await alices.receive_nothing(timeout=QUIET)
        await bobs.disconnect()
        await alices.disconnect()
        return got[-1]

    frame = run(scenario)
    assert frame["organization"] == org_b.pk
    assert frame["signal"]["symbol"] == "ETH/USDT"


def test_a_rolled_back_signal_sends_nothing(alice, org_a):
    source = SignalSourceFactory(organization=org_a)
    session = session_header(alice)

    def record_then_roll_back():
        try:
            with transaction.atomic():
                record(source)
                raise Rollback
        except Rollback:
            pass

    async def scenario():
        socket = await open_socket(ORIGIN, session)
        await database_sync_to_async(record_then_roll_back)()
        nothing = await socket.receive_nothing(timeout=QUIET)
        await socket.disconnect()
        return nothing

    assert run(scenario)
