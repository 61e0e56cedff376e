"""Swaps through the loopback Gateway (issue 18, item 2's safety): quoted with slippage in basis
points, marked submitted before execute, the signature recorded, confirmation polled; failed,
dropped and slowly confirmed transactions, and a lost execute answer that is never sent again."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import BotEvent
from core.errors import ApplicationError, PermissionDeniedError
from dex.models import DexSwap
from dex.services import connection_create, connection_verify, wallet_add
from dex.swaps import swap_execute, swap_refresh, swaps_refresh_due
from organizations.models import Role
from tests.dex.gateway_server import GatewayServer, new_keypair

pytestmark = pytest.mark.django_db
LATER = dt.timedelta(seconds=121)


@pytest.fixture
def gateway():
    with GatewayServer() as server:
        server.prices[("SOL", "USDC")] = Decimal("150")
        server.prices[("BONK", "SOL")] = Decimal("0.0000002")
        yield server


@pytest.fixture
def wallet(gateway, org_a, alice):
    connection = connection_create(organization=org_a, user=alice, name="local", url=gateway.url)
    connection = connection_verify(connection=connection, user=alice)
    key, address = new_keypair()
    gateway.balances[address] = {"SOL": Decimal("10"), "USDC": Decimal("1000")}
    return wallet_add(connection=connection, private_key=key, user=alice)


def executes(gateway) -> int:
    return sum(1 for _, path, _ in gateway.requests if path.endswith("/execute-quote"))


def sell(wallet, key="s-1", **kw):
    values = {"base": "SOL", "quote": "USDC", "side": "sell", "amount": Decimal("2"), "slippage_bps": 50} | kw
    return swap_execute(wallet=wallet, intent_key=key, **values)


def test_a_swap_confirmed_at_once_records_its_signature_amounts_and_fee(wallet, gateway, alice):
    swap = sell(wallet, user=alice)
    assert swap.status == "confirmed" and len(swap.signature) >= 80
    assert (swap.amount_in, swap.amount_out, swap.fee) == (Decimal("2"), Decimal("300"), Decimal("0.000005"))
    assert swap.quoted_price == Decimal("150") and swap.limit_amount == Decimal("298.5")  # 0.5% under 300
    [quote] = [q for _, path, q in gateway.requests if path.endswith("/quote-swap")]
    assert (quote["side"], quote["amount"], quote["slippagePct"]) == ("SELL", "2", "0.5")
    assert {k: Decimal(v) for k, v in swap.balances_before.items()} == {"SOL": 10, "USDC": 1000}
    event = BotEvent.objects.get(kind="dex.swap_confirmed")
    assert event.actor == alice and event.data["signature"] == swap.signature


def test_a_slow_confirmation_is_polled_until_it_lands(wallet, gateway):
    gateway.swap_outcome = {"status": "confirmed", "polls": 2}
    swap = sell(wallet, side="buy", amount=Decimal("1"))
    assert swap.status == "submitted" and swap.signature
    assert swap_refresh(swap=swap).status == "submitted"
    assert swap_refresh(swap=swap).status == "submitted"
    from dex.tasks import refresh_swaps

    assert refresh_swaps() == 0  # the beat job settles it
    swap.refresh_from_db()
    assert swap.status == "confirmed" and swap.polls == 3
    assert (swap.amount_in, swap.amount_out) == (Decimal("150"), Decimal("1"))  # buy: USDC in, SOL out
    assert executes(gateway) == 1


def test_the_beat_polls_swaps_every_few_seconds(settings):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "dex.tasks.refresh_swaps")
    assert entry["schedule"] <= 10


def test_a_transaction_that_fails_on_chain_is_failed_with_the_reason(wallet, gateway):
    gateway.swap_outcome = {"status": "failed", "polls": 0}
    swap = sell(wallet)
    assert swap.status == "submitted"
    swap = swap_refresh(swap=swap)
    assert swap.status == "failed" and "InstructionError" in swap.error and swap.fee == Decimal("0.000005")
    assert BotEvent.objects.filter(kind="dex.swap_failed").exists()


def test_a_dropped_transaction_expires_and_its_intent_is_never_resent(wallet, gateway):
    gateway.swap_outcome = {"status": "dropped"}
    swap = sell(wallet)
    assert swap_refresh(swap=swap).status == "submitted"  # before the blockhash expires: wait
    assert swaps_refresh_due(now=timezone.now() + LATER) == 0
    swap.refresh_from_db()
    assert swap.status == "expired" and "blockhash expired" in swap.error
    again = sell(wallet)  # the same intent key answers the same swap
    assert again.pk == swap.pk and executes(gateway) == 1
    gateway.swap_outcome = {"status": "confirmed", "polls": 0}
    retry = sell(wallet, key="s-1-retry")  # a new key may try again, now that it is known not to have landed
    assert retry.status == "confirmed" and executes(gateway) == 2


def test_a_lost_answer_is_never_resent_and_is_settled_from_the_balances(wallet, gateway, settings):
    settings.DEX_GATEWAY_TIMEOUT = 0.5
    gateway.swap_outcome = {"status": "confirmed", "execute": "timeout", "seconds": 1.5}
    swap = sell(wallet)
    assert swap.status == "submitted" and not swap.signature and "Outcome unknown" in swap.error
    assert BotEvent.objects.filter(kind="dex.swap_unknown").exists()
    assert sell(wallet).pk == swap.pk and executes(gateway) == 1  # asked again: not sent again
    assert swap_refresh(swap=swap).status == "submitted"  # it might still land
    # It did land: the wallet holds 2 SOL less and 300 USDC more.
    gateway.balances[wallet.address] = {"SOL": Decimal("8"), "USDC": Decimal("1300")}
    swap = swap_refresh(swap=swap, now=timezone.now() + LATER)
    assert swap.status == "confirmed", swap.error
    assert (swap.amount_in, swap.amount_out) == (Decimal("2"), Decimal("300"))

    lost = sell(wallet, key="s-2")
    gateway.balances[wallet.address] = {"SOL": Decimal("8"), "USDC": Decimal("1300")}  # unchanged since
    assert swap_refresh(swap=lost, now=timezone.now() + LATER).status == "expired"
    assert executes(gateway) == 2


def test_refusals_before_sending(wallet, gateway, member):
    no_route = swap_execute(
        wallet=wallet, intent_key="r-1", base="SOL", quote="JUP", side="sell", amount=Decimal("1"), slippage_bps=100
    )
    assert no_route.status == "failed" and "No route found" in no_route.error and executes(gateway) == 0
    for field, bad in (
        ("side", "long"),
        ("amount", Decimal("-1")),
        ("amount", "NaN"),
        ("slippage_bps", 0),
        ("slippage_bps", 9000),
        ("base", "SOL; DROP"),
    ):
        with pytest.raises(ApplicationError) as refused:
            sell(wallet, key=f"bad-{field}", **{field: bad})
        assert refused.value.field == field
    with pytest.raises(PermissionDeniedError):
        sell(wallet, key="viewer", user=member(Role.VIEWER))
    assert DexSwap.objects.count() == 1 and executes(gateway) == 0
