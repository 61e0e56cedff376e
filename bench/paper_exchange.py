"""Paper exchange throughput and reconciliation time, on PostgreSQL, in one process.

- orders_per_s: market orders placed and filled through `orders_place` in batches of 10, as one
  tick of a strategy places its intents (each order saved, marked submitted, sent, filled, its
  fill and the position recorded), on the paper exchange over the bundled real BTC/USDT candles.
- orders_per_s_single: the same, one `order_place` call per order.
- reconcile_10k_s: one reconciliation pass of an account with 10,000 open orders, of which 100
  were canceled on the exchange and 50 placed there unknown to us (150 corrections).
Prints one JSON line.
"""

import json
import time
from decimal import Decimal

from _django import ROOT, setup

setup()

from django.db import transaction  # noqa: E402

from bots.models import Bot, Order  # noqa: E402
from bots.orders import PlacementIntent, order_place, orders_place  # noqa: E402
from bots.reconciliation import reconcile_account  # noqa: E402
from exchanges.gateway import Gateway  # noqa: E402
from exchanges.market_data import FixedClock, ReplaySource, read_candle_file  # noqa: E402
from exchanges.models import ExchangeAccount, PaperOrder  # noqa: E402
from exchanges.paper import PaperExchange, paper_balance_set  # noqa: E402
from organizations.models import Organization  # noqa: E402

ORDERS = int(__import__("os").environ.get("BENCH_ORDERS", "2000"))
BATCH = 10
RECONCILE_ORDERS = 10_000


def fresh_account(name: str) -> ExchangeAccount:
    org, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    ExchangeAccount.objects.filter(organization=org, label=name).update(label=f"{name}-old-{time.time_ns()}")
    return ExchangeAccount.objects.create(organization=org, exchange="paper", label=name, status="active")


def main() -> None:
    candles = read_candle_file(ROOT / "data" / "market" / "BTC_USDT-5m.json.gz")[2]
    source = ReplaySource(exchange="binance", timeframe="5m")
    source.load("BTC/USDT", candles)
    clock = FixedClock(candles[200].ts + 1)

    account = fresh_account("bench-orders")
    paper_balance_set(account=account, asset="USDT", free=Decimal("1e12"))
    paper_balance_set(account=account, asset="BTC", free=Decimal("1e6"))
    bot = Bot.objects.create(
        organization=account.organization,
        name=f"bench-{time.time_ns()}",
        strategy="grid",
        exchange_account=account,
        symbol="BTC/USDT",
    )
    gateway = Gateway(account, PaperExchange(account, source=source, clock=clock))
    for i in range(20):  # warm-up
        order_place(
            account=account,
            bot=bot,
            symbol="BTC/USDT",
            side="buy",
            type="market",
            amount=Decimal("0.01"),
            intent_key=f"warm-{i}",
            gateway=gateway,
        )
    started = time.perf_counter()
    for i in range(ORDERS):
        order = order_place(
            account=account,
            bot=bot,
            symbol="BTC/USDT",
            side="buy" if i % 2 else "sell",
            type="market",
            amount=Decimal("0.01"),
            intent_key=f"o-{i}",
            gateway=gateway,
        )
        assert order.status == "filled", order.reason
        clock.advance(1000)
    single_per_s = ORDERS / (time.perf_counter() - started)

    started = time.perf_counter()
    for tick in range(ORDERS // BATCH):
        intents = [
            PlacementIntent(
                symbol="BTC/USDT",
                side="buy" if j % 2 else "sell",
                type="market",
                amount=Decimal("0.01"),
                bot=bot,
                intent_key=f"t-{tick}:{j}",
            )
            for j in range(BATCH)
        ]
        orders = orders_place(account=account, intents=intents, gateway=gateway)
        assert all(o.status == "filled" for o in orders), [o.reason for o in orders]
        clock.advance(1000)
    orders_per_s = (ORDERS // BATCH) * BATCH / (time.perf_counter() - started)

    # Reconciliation: 10,000 resting orders known to both sides, then drift on the exchange side.
    account = fresh_account("bench-reconcile")
    now = clock.now_ms()
    run = time.time_ns()
    with transaction.atomic():
        paper = PaperOrder.objects.bulk_create(
            PaperOrder(
                account=account,
                client_order_id=f"r{run}x{i}",
                symbol="BTC/USDT",
                side="sell",
                type="limit",
                price=Decimal("999999"),
                amount=Decimal("0.01"),
                reserved=Decimal("0.01"),
                status="open",
                created_ms=now,
                matched_until_ms=now,
                updated_ms=now,
            )
            for i in range(RECONCILE_ORDERS + 50)
        )
        Order.objects.bulk_create(
            Order(
                organization_id=account.organization_id,
                exchange_account=account,
                client_order_id=p.client_order_id,
                exchange_order_id=str(p.pk),
                symbol="BTC/USDT",
                side="sell",
                type="limit",
                price=p.price,
                amount=p.amount,
                status="open",
            )
            for p in paper[:RECONCILE_ORDERS]
        )
        PaperOrder.objects.filter(pk__in=[p.pk for p in paper[:100]]).update(status="canceled", reserved=0)
    gateway = Gateway(account, PaperExchange(account, source=source, clock=clock))
    started = time.perf_counter()
    report = reconcile_account(account=account, gateway=gateway)
    reconcile_s = time.perf_counter() - started
    assert report.orders_updated == 100 and report.orders_adopted == 50, report.as_dict()

    print(
        json.dumps(
            {
                "bench": "paper_exchange",
                "orders_per_s": round(orders_per_s, 1),
                "batch": BATCH,
                "orders_per_s_single": round(single_per_s, 1),
                "orders": ORDERS,
                "reconcile_10k_s": round(reconcile_s, 3),
                "reconcile_orders": RECONCILE_ORDERS,
                "reconcile_corrections": report.corrections,
                "targets": {"orders_per_s": ">= 300", "reconcile_10k_s": "<= 5"},
            }
        )
    )


if __name__ == "__main__":
    main()
