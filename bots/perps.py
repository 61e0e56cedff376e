"""What a tick does for a perpetual-futures bot beyond a spot one.

- Before its first order (and whenever the bot's leverage or margin mode changes) the leverage
  and margin mode are set on the exchange; what was set is remembered in the bot's state. A value
  the market refuses is a clear bot event and no order is sent until it is fixed.
- The open position's mark, unrealized PnL, liquidation price and margin are kept current: the
  exchange's figures for a live bot, `exchanges.perps` on the paper exchange's terms for a paper
  bot (the same formulas the paper exchange liquidates with).
- Funding payments become FundingPayment rows (the bot's own ledger, counted in its PnL) once a
  funding time has passed since the last sync.
- A position the exchange no longer holds (liquidated) makes the tick reconcile the account
  at once, which records the liquidation fill and raises a critical event.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from bots import live
from bots.models import Bot, FundingPayment, MarketType, Position
from exchanges import perps
from exchanges.errors import ExchangeError

logger = logging.getLogger(__name__)
ZERO = Decimal("0")


def is_perp(bot: Bot) -> bool:
    return bot.market_type == MarketType.PERP


def maintenance_rate(bot: Bot) -> Decimal:
    """The maintenance margin rate the risk check and the paper figures use: the paper account's
    terms, or Hyperliquid's rule on the market's maximum leverage (50x when it is not known)."""
    account = bot.exchange_account
    if account.is_paper:
        return perps.maintenance_rate(account.paper_max_leverage)
    return perps.maintenance_rate(50)


def margin_ensure(bot: Bot, gateway, state: dict) -> str | None:
    """Set leverage and margin mode on the exchange unless already done for these values; the
    exchange's refusal as a sentence, or None when the bot may trade."""
    wanted = [bot.symbol, str(bot.leverage), bot.margin_mode]
    if state.get("margin") == wanted:
        return None
    try:
        gateway.set_leverage(bot.symbol, leverage=bot.leverage, margin_mode=bot.margin_mode)
    except ExchangeError as exc:
        return f"The exchange refused {bot.leverage}x {bot.margin_mode} margin on {bot.symbol}: {exc.message}"
    state["margin"] = wanted
    return None


def marks_update(bot: Bot, position: Position | None, last: Decimal, gateway) -> bool:
    """Refresh the open position's perp figures (the paper exchange first catches up on funding,
    stops and liquidation). Returns False when the exchange holds no position where ours is open
    (liquidated, or closed by a stop): the caller reconciles."""
    if position is None or position.quantity == 0:
        return True
    account = bot.exchange_account
    if account.is_paper:
        from exchanges.models import PaperBalance, PaperPosition
        from exchanges.paper_perps import settle_asset

        book = gateway.client.perps
        book.match(bot.symbol)  # funding, stops and liquidation up to now
        row = PaperPosition.objects.filter(account=account, symbol=bot.symbol).first()
        if row is None or row.quantity == 0:
            return False
        free = (
            PaperBalance.objects.filter(account=account, asset=settle_asset(bot.symbol))
            .values_list("free", flat=True)
            .first()
        ) or ZERO
        figures = {
            "mark_price": last,
            "unrealized_pnl": perps.unrealized_pnl(
                quantity=position.quantity, entry=position.average_entry_price, mark=last
            ),
            "liquidation_price": book.liquidation_price(row, free),
            "margin_used": row.margin,
        }
    else:
        try:
            found = [p for p in gateway.positions([bot.symbol]) if p.symbol == bot.symbol]
        except ExchangeError as exc:
            logger.info("positions of bot %s unavailable: %s", bot.pk, exc.message)
            return True
        if not found:
            return False
        p = found[0]
        figures = {
            "mark_price": p.mark_price or last,
            "unrealized_pnl": p.unrealized_pnl,
            "liquidation_price": p.liquidation_price,
            "margin_used": p.margin_used,
        }
    changed = {k: v for k, v in figures.items() if getattr(position, k) != v}
    if changed:
        Position.objects.filter(pk=position.pk).update(**changed)
        for name, value in changed.items():
            setattr(position, name, value)
        live.publish_positions([position])
    return True


def funding_due(bot: Bot, state: dict, now_ms: int) -> bool:
    hours = (
        bot.exchange_account.paper_funding_interval_hours
        if bot.exchange_account.is_paper
        else perps.FUNDING_INTERVAL_HOURS.get(bot.exchange_account.exchange, 8)
    )
    last = int(state.get("funding_ms", 0))
    return bool(perps.funding_times(since_ms=last, until_ms=now_ms, interval_hours=hours)) or last == 0


def funding_sync(bot: Bot, gateway, state: dict, now_ms: int) -> list[FundingPayment]:
    """Store the funding payments since the last sync on the bot's ledger and its open position."""
    since = int(state.get("funding_ms", 0)) or None
    try:
        payments = gateway.funding_payments(bot.symbol, since=since)
    except ExchangeError as exc:
        logger.info("funding of bot %s unavailable: %s", bot.pk, exc.message)
        return []
    state["funding_ms"] = now_ms
    if not payments:
        return []
    rows = [
        FundingPayment(
            organization_id=bot.organization_id,
            bot=bot,
            exchange_account_id=bot.exchange_account_id,
            symbol=bot.symbol,
            payment_id=p.id,
            amount=p.amount,
            rate=p.rate,
            position_quantity=p.quantity,
            mark_price=p.mark_price,
            ts=dt.datetime.fromtimestamp(p.ts / 1000, tz=dt.UTC),
        )
        for p in payments
    ]
    known = set(
        FundingPayment.objects.filter(
            exchange_account_id=bot.exchange_account_id, symbol=bot.symbol, payment_id__in=[r.payment_id for r in rows]
        ).values_list("payment_id", flat=True)
    )
    fresh = [r for r in rows if r.payment_id not in known]
    if fresh:
        FundingPayment.objects.bulk_create(fresh, ignore_conflicts=True)
        position = Position.objects.filter(bot=bot, symbol=bot.symbol, closed_at__isnull=True).first()
        if position is not None:
            opened = position.opened_at
            total = sum((r.amount for r in fresh if opened is None or r.ts >= opened), ZERO)
            position.funding += total
            Position.objects.filter(pk=position.pk).update(funding=position.funding)
            live.publish_positions([position])
    return fresh


def funding_total(bot: Bot) -> Decimal:
    from django.db.models import Sum

    return FundingPayment.objects.filter(bot=bot).aggregate(total=Sum("amount"))["total"] or ZERO
