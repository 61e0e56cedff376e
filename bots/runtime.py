"""The native bot runtime: one tick of one bot.

A tick: take the bot (a conditional UPDATE that doubles as the per-bot lock) -> load what the
decision needs in a fixed number of queries -> ask the strategy -> pass every intent through the
risk check -> cancel and place orders -> write heartbeat, state and next_tick_at in one UPDATE
that also lets go of the bot.

Idempotency: the order intents of tick number N get the keys `t<N>:<tag>`, and N only moves on
when a tick completes. A tick killed half way runs again as the same N, finds the orders it
already made under those keys and adopts them instead of sending new ones.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from bots import live, perps, protection, signal_feed, tick_sql
from bots.models import Bot, BotEvent, EventLevel, Order, Position
from bots.prometheus import observe_tick
from bots.services import bot_events_write
from bots.state import BotStatus
from core.errors import ApplicationError
from exchanges.errors import CircuitOpenError, ExchangeError
from exchanges.market_data import timeframe_ms
from exchanges.models import CircuitState, ExchangeAccount
from risk import engine as risk
from risk.metrics import risk_rejections
from strategies.base import Bars, Context, Decision, Leg, OpenOrder, OrderIntent, PositionView, Quote
from strategies.registry import StrategySpec, validate_params
from strategies.registry import get as get_strategy

logger = logging.getLogger(__name__)
ZERO = Decimal("0")
RECENT_POSITIONS = 50
# Limits that, set on an account or organization, also bound all its bots together.
POOLED_LIMITS = ("max_open_orders", "max_daily_trades", "max_daily_loss")


@dataclass
class TickResult:
    bot_id: int
    outcome: str  # ticked | skipped | failed
    placed: int = 0
    rejected: int = 0
    canceled: int = 0
    ms: float = 0.0
    note: str = ""


@dataclass
class Snapshot:
    """What one tick loaded about its bot."""

    bot: Bot
    spec: StrategySpec
    params: dict[str, Any]
    kill_switch: bool
    limits: risk.Limits
    open_orders: list[Order]
    orders_today: int
    positions: list[Position]
    day_start: dt.datetime
    # Limits an account's or the organization's bots share: (level, its pooled limits, its pool).
    pools: list[tuple[str, risk.Limits, tick_sql.Pool]] = field(default_factory=list)
    closed_today: Decimal = ZERO
    events: list[BotEvent] = field(default_factory=list)

    @property
    def position(self) -> Position | None:
        for p in self.positions:
            if p.closed_at is None and p.symbol == self.bot.symbol:
                return p
        return None

    @property
    def position_view(self) -> PositionView:
        """The open position as the strategy and the risk check see it (flat when none)."""
        position = self.position
        return PositionView(position.quantity, position.average_entry_price) if position else PositionView()


# -- entry point ------------------------------------------------------------------------------------
def bot_tick(*, bot_id: int, claim: dt.datetime | None = None) -> TickResult:
    """Run one tick of a bot. `claim` is the claimed_until value the dispatcher wrote when it
    claimed the bot; a message whose claim is stale (the tick already ran, or was dispatched
    again) is skipped. Never raises for a bot's own failure: it is recorded on the bot."""
    started = time.perf_counter()
    now = timezone.now()
    lock_until = now + dt.timedelta(seconds=settings.TICK_LOCK_SECONDS)
    bot = tick_sql.bot_take(bot_id=bot_id, claim=claim, now=now, lock_until=lock_until)
    if bot is None:
        return TickResult(bot_id, "skipped", note="not due, stopped, or another tick holds it")
    relax = tick_sql.relaxed_commits(bot)
    restored = not relax
    try:
        try:
            result, state = _run(bot, now, relax=relax)
        except Exception as exc:  # one bot's failure must not stop the others
            ms = (time.perf_counter() - started) * 1000
            _fail(bot_id=bot_id, bot=bot, exc=exc, lock_until=lock_until, ms=ms)
            observe_tick("failed", ms / 1000)
            return TickResult(bot_id, "failed", ms=ms, note=_describe(exc))
        result.ms = (time.perf_counter() - started) * 1000
        observe_tick(result.outcome, result.ms / 1000)
        _finish(bot, state=state, lock_until=lock_until, ms=result.ms, restore=relax)
        restored = True
        return result
    finally:
        if not restored:
            tick_sql.commits_restore()


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApplicationError | ExchangeError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _finish(bot: Bot, *, state: dict, lock_until: dt.datetime, ms: float, restore: bool = False) -> None:
    """Heartbeat, counters, memory and the next tick in one UPDATE, which also releases the bot.
    Guarded by our lock value: a tick that outlived its lock does not overwrite a newer one."""
    now = timezone.now()
    tick_sql.bot_finish(
        bot_id=bot.pk,
        lock_until=lock_until,
        now=now,
        next_at=now + dt.timedelta(seconds=bot.tick_interval),
        state=state,
        ms=ms,
        restore=restore,
    )


def _fail(*, bot_id: int, bot: Bot | None, exc: Exception, lock_until: dt.datetime, ms: float) -> None:
    """Count the failure, back off, and put the bot into error after too many in a row."""
    from bots.services import bot_event_record, bot_transition

    reason = _describe(exc)[:1000]
    if not isinstance(exc, ApplicationError | ExchangeError):
        logger.exception("Tick of bot %s failed", bot_id)
    current = Bot.objects.filter(pk=bot_id).values_list("consecutive_errors", "tick_interval", flat=False).first()
    if current is None:
        return
    errors, interval = current[0] + 1, current[1]
    backoff = dt.timedelta(seconds=interval * min(2 ** (errors - 1), 16))
    now = timezone.now()
    Bot.objects.filter(pk=bot_id, tick_lock_until=lock_until).update(
        consecutive_errors=errors,
        last_error=reason,
        last_tick_ms=round(ms, 3),
        tick_lock_until=None,
        claimed_until=None,
        next_tick_at=now + backoff,
    )
    if bot is None:
        return
    bot_event_record(
        organization_id=bot.organization_id,
        bot=bot,
        kind="tick.failed",
        message=f"Tick failed ({errors} in a row): {reason}",
        level=EventLevel.ERROR,
        data={"consecutive_errors": errors},
    )
    if errors >= settings.BOT_MAX_CONSECUTIVE_ERRORS:
        bot.refresh_from_db(fields=["status"])
        try:
            bot_transition(
                bot=bot,
                target=BotStatus.ERROR,
                reason=f"{errors} ticks failed in a row; last: {reason}",
                updates={"next_tick_at": None},
            )
        except ApplicationError:
            pass  # stopped or changed meanwhile


# -- loading ----------------------------------------------------------------------------------------
def load_snapshot(bot: Bot, now: dt.datetime, *, relax: bool = False) -> Snapshot:
    """Everything the decision and the risk check need (the bot's account included, fresh: its
    circuit breaker state matters), in one statement on PostgreSQL."""
    spec = get_strategy(bot.strategy)
    params = _typed_params(bot.strategy, _freeze(bot.params))
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = tick_sql.snapshot_load(bot=bot, day_start=day_start, positions=RECENT_POSITIONS, relax=relax)
    bot.exchange_account = rows.account
    for order in rows.open_orders:
        if order.exchange_account_id == bot.exchange_account_id:
            order.exchange_account = rows.account
    limits = risk.merge_limits(rows.limits)
    snap = Snapshot(
        bot, spec, params, rows.kill_switch, limits, rows.open_orders, rows.orders_today, rows.positions, day_start
    )
    levels = []
    for row in rows.limits:
        pooled = risk.merge_limits([{name: getattr(row, name) for name in POOLED_LIMITS}])
        if row.bot_id is None and pooled != risk.Limits():
            levels.append(("account" if row.exchange_account_id else "organization", pooled))
    if levels:
        pools = tick_sql.pools_load(bot=bot, day_start=day_start)
        snap.pools = [(level, pooled, pools[level]) for level, pooled in levels]
    return snap


def _freeze(params: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in (params or {}).items()))


@functools.lru_cache(maxsize=4096)
def _typed_params_cached(strategy: str, frozen: tuple) -> dict[str, Any]:
    return validate_params(strategy, dict(frozen))


def _typed_params(strategy: str, frozen: tuple) -> dict[str, Any]:
    return dict(_typed_params_cached(strategy, frozen))


# -- market data ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _paper_bars(symbol: str) -> Bars:
    """The replayed series of a symbol as arrays, built once per process."""
    from exchanges.gateway import paper_source

    _, candles = paper_source().series(symbol)
    return Bars.from_candles(candles)


def market_view(bot: Bot, spec: StrategySpec, params: dict, gateway) -> tuple[int, Bars, Quote]:
    """Market time, closed candles (as many as the strategy's warm-up needs) and the quote."""
    need = spec.warmup_bars(params)
    account = bot.exchange_account
    if account.is_paper:
        client = gateway.client
        now_ms = client.clock.now_ms()
        step = timeframe_ms(settings.PAPER_TIMEFRAME)
        bars = _paper_bars(bot.symbol).upto(now_ms, step, need) if need else Bars.empty()
        last = client.source.last_price(bot.symbol, now_ms)
        if last is None:
            raise ApplicationError(f"No market data for {bot.symbol} on the paper exchange.", field="symbol")
        return now_ms, bars, Quote(bid=last, ask=last, last=last)
    ticker = gateway.ticker(bot.symbol)
    now_ms = ticker.ts or int(time.time() * 1000)
    bars = live_bars(gateway, bot.symbol, spec.timeframe, need, now_ms) if need else Bars.empty()
    return now_ms, bars, Quote(bid=ticker.bid or ticker.last, ask=ticker.ask or ticker.last, last=ticker.last)


OHLCV_PAGE = 1000  # the most candles one request returns on the major exchanges (Binance: 1,000)
_live_candles: dict[tuple[int, str, str], tuple[list, Bars]] = {}


def live_bars(gateway, symbol: str, timeframe: str, need: int, now_ms: int) -> Bars:
    """The last `need` closed candles from the exchange. The first call pages back as far as
    needed (warm-ups can exceed one request); later calls fetch only what is new. Kept per
    account, symbol and timeframe in the worker process."""
    step = timeframe_ms(timeframe)
    key = (gateway.account.pk, symbol, timeframe)
    candles, bars = _live_candles.get(key, ([], None))
    since = candles[-1].ts if candles else now_ms - (need + 2) * step
    fetched = False
    while True:
        page = gateway.ohlcv(symbol, timeframe, since=since, limit=OHLCV_PAGE)
        if not page:
            break
        fetched = True
        candles = [c for c in candles if c.ts < page[0].ts] + list(page)
        if len(page) < OHLCV_PAGE or page[-1].ts + step > now_ms:
            break
        since = page[-1].ts + step
    candles = candles[-(need + 2) :]
    if fetched or bars is None:
        bars = Bars.from_candles(candles)
        if len(_live_candles) > 10_000:
            _live_candles.clear()
        _live_candles[key] = (candles, bars)
    return bars.upto(now_ms, step, need)


# -- the tick ---------------------------------------------------------------------------------------
def _gateway(account: ExchangeAccount):
    from exchanges.gateway import Gateway, client_for_account

    return Gateway(account, client_for_account(account))


def _run(bot: Bot, now: dt.datetime, *, relax: bool = False) -> tuple[TickResult, dict]:
    from bots.services import bot_stop

    snap = load_snapshot(bot, now, relax=relax)
    state = dict(bot.state or {})
    if snap.kill_switch:
        # Nothing trades while a switch is on: stop the bot (its orders are canceled) right here.
        _release(bot)
        bot_stop(bot=bot, reason="kill switch engaged")
        return TickResult(bot.pk, "skipped", note="kill switch engaged; bot stopped"), state
    degraded = _track_degradation(bot)
    gateway = _gateway(bot.exchange_account)
    try:
        now_ms, bars, quote = market_view(bot, snap.spec, snap.params, gateway)
        synced = _sync_open_orders(snap, gateway, state, now_ms)
    except CircuitOpenError as exc:
        # The exchange is unreachable for now: a quiet tick (the heartbeat shows we are alive).
        return TickResult(bot.pk, "ticked", note=f"market data unavailable: {exc.message}"), state
    if synced:
        snap = load_snapshot(bot, now)
    if perps.is_perp(bot) and _perp_upkeep(snap, gateway, state, now_ms, quote.last):
        snap = load_snapshot(bot, now)
        synced = True
    # Protective trigger orders are the runtime's: the strategy and the risk check see the rest.
    guarded = any(protection.is_protective(o) for o in snap.open_orders)
    working = [o for o in snap.open_orders if not protection.is_protective(o)]
    pos_view = snap.position_view
    second = _second_leg(bot, snap) if snap.spec.needs_second_account else None
    # One query, only for a strategy that reads signals (the others keep their fixed count).
    market_signals = (
        signal_feed.market_signals_for_bot(bot=bot, params=snap.params, now=now) if snap.spec.uses_signals else ()
    )
    context = Context(
        now_ms=now_ms,
        symbol=bot.symbol,
        params=snap.params,
        bars=bars,
        quote=quote,
        position=pos_view,
        open_orders=tuple(_open_order_view(bot, o, now_ms, now) for o in working),
        state=state.get("strategy", {}),
        capital=bot.capital,
        second=second,
        market_signals=market_signals,
    )
    decision: Decision = snap.spec.decide(context)
    if decision.state is not None:
        state["strategy"] = dict(decision.state)
    exposure = _exposure(snap, working, quote.last, pos_view, degraded, state)
    intents = list(decision.intents)
    # Resting trigger orders guard the position on the exchange; otherwise the tick watches.
    protective = None if guarded else risk.protective_exit(snap.limits, exposure, bot.symbol)
    if protective is not None and not any(i.exit for i in intents):
        intents.append(
            OrderIntent(side=protective.side, amount=protective.amount, type="market", tag="protect", exit=True)
        )
    result = TickResult(bot.pk, "ticked", note=decision.note)
    result.canceled = _cancel(snap, decision.cancel, gateway)
    approved = _check(snap, intents, exposure, result, state)
    if approved and _exchange_paused(bot.exchange_account):
        # The breaker refuses calls until its cooldown ends: hold the orders (the strategy asks
        # again next tick) rather than record one refused order per tick; say so once.
        result.note = f"{len(approved)} order(s) held: the exchange is paused after repeated failures"
        if not state.get("held"):
            snap.events.append(_event(snap, "tick.orders_held", result.note, EventLevel.WARNING))
        state["held"] = True
    elif approved:
        state.pop("held", None)
        _place(snap, approved, gateway, result, state)
    if perps.is_perp(bot) and not state.get("held"):
        _protect(snap, gateway, state, forced=bool(synced or result.placed), guarded=guarded)
    if snap.events:
        bot_events_write(snap.events)
        live.publish_events(snap.events)
    return result, state


def _perp_upkeep(snap: Snapshot, gateway, state: dict, now_ms: int, last: Decimal) -> bool:
    """Once per closed candle (paper) or minute (live): the position's marks, funding, and a
    reconciliation when the exchange no longer holds our position. True when the bot's rows
    changed so the snapshot must be reloaded."""
    from bots.reconciliation import reconcile_account

    bot = snap.bot
    step = timeframe_ms(settings.PAPER_TIMEFRAME) if bot.exchange_account.is_paper else 60_000
    if state.get("perp_seen") == now_ms // step:
        return False
    state["perp_seen"] = now_ms // step
    changed = False
    if not perps.marks_update(bot, snap.position, last, gateway):
        reconcile_account(account=bot.exchange_account, gateway=gateway)
        changed = True
    if perps.funding_due(bot, state, now_ms) and perps.funding_sync(bot, gateway, state, now_ms):
        changed = True
    return changed


def _protect(snap: Snapshot, gateway, state: dict, *, forced: bool, guarded: bool) -> None:
    """Keep the protective trigger orders in step with the position: after a fill, or when the
    position or the default levels differ from what they were last set for. A bot with no levels
    at all and nothing resting costs nothing here."""
    limits = snap.limits
    if not guarded and not state.get("protect_levels") and limits.default_stop_loss_pct is None:
        if limits.default_take_profit_pct is None:
            state.pop("protect_sig", None)
            return
    pos = snap.position
    signature = [
        str(pos.quantity if pos else ZERO),
        str(pos.average_entry_price if pos else ZERO),
        str(limits.default_stop_loss_pct),
        str(limits.default_take_profit_pct),
        state.get("protect_levels"),
    ]
    if not forced and state.get("protect_sig") == signature:
        return
    synced = protection.protection_sync(
        bot=snap.bot,
        gateway=gateway,
        state=state,
        stop_pct=limits.default_stop_loss_pct,
        take_pct=limits.default_take_profit_pct,
        tick_no=snap.bot.tick_count + 1,
    )
    snap.events.extend(_event(snap, kind, message, level) for kind, message, level in synced.events)
    # The position may have moved during this tick: the next one compares with what was protected.
    signature[:2] = [str(synced.quantity), str(synced.average_entry)]
    signature[4] = state.get("protect_levels")
    state["protect_sig"] = signature


def _exchange_paused(account: ExchangeAccount) -> bool:
    """The account's breaker is open and its cooldown has not ended (after it, one probe call
    goes through)."""
    if account.circuit_state != CircuitState.OPEN or account.circuit_changed_at is None:
        return False
    cooldown = dt.timedelta(seconds=settings.EXCHANGE_CIRCUIT_COOLDOWN_SECONDS)
    return timezone.now() - account.circuit_changed_at < cooldown


def _release(bot: Bot) -> None:
    Bot.objects.filter(pk=bot.pk).update(tick_lock_until=None)


def _track_degradation(bot: Bot) -> bool:
    """Degraded mode follows the primary account's circuit breaker, both ways, by itself."""
    from bots.services import bot_transition

    open_ = bot.exchange_account.circuit_state == CircuitState.OPEN
    try:
        if open_ and bot.status == BotStatus.RUNNING:
            bot_transition(
                bot=bot,
                target=BotStatus.DEGRADED,
                reason="the exchange keeps failing (circuit open): no new positions, exits still managed",
            )
        elif bot.exchange_account.circuit_state == CircuitState.CLOSED and bot.status == BotStatus.DEGRADED:
            bot_transition(bot=bot, target=BotStatus.RUNNING, reason="the exchange answers again (circuit closed)")
    except ApplicationError:
        pass  # lost a race with a stop: the bot is leaving anyway
    return bot.status == BotStatus.DEGRADED


def _sync_open_orders(snap: Snapshot, gateway, state: dict, now_ms: int) -> bool:
    """Bring the bot's working orders up to date with the exchange (fills of resting limit orders)
    before deciding. One open-orders call when the bot has working orders, none otherwise. The
    paper exchange fills resting orders only when a candle closes, so a paper bot asks once per
    candle. A two-account bot's orders on its second account (a DEX swap settling on chain) are
    read through that account: its strategy waits while any order works."""
    bot = snap.bot
    sent = [o for o in snap.open_orders if o.submitted_at is not None]
    primary = [o for o in sent if o.exchange_account_id == bot.exchange_account_id]
    secondary = [
        o
        for o in sent
        if bot.secondary_exchange_account_id is not None and o.exchange_account_id == bot.secondary_exchange_account_id
    ]
    changed = False
    if primary:
        if bot.exchange_account.is_paper:
            bar = now_ms - now_ms % timeframe_ms(settings.PAPER_TIMEFRAME)
            if state.get("synced_bar") == bar and all(o.exchange_order_id for o in primary):
                primary = []
            else:
                state["synced_bar"] = bar
        changed = _orders_sync(bot.symbol, primary, gateway)
    if secondary:
        changed = _orders_sync(bot.symbol, secondary, _gateway(bot.secondary_exchange_account)) or changed
    return changed


def _orders_sync(symbol: str, sent: list[Order], gateway) -> bool:
    """Apply what one account reports about these submitted orders; True when any changed."""
    from bots.orders import orders_apply

    if not sent:
        return False
    mine = [o.client_order_id for o in sent]
    reported = {o.client_order_id: o for o in gateway.open_orders(symbol, client_order_ids=mine)}
    items = []
    for order in sent:
        update = reported.get(order.client_order_id)
        if update is None:
            try:
                update = gateway.fetch_order(symbol=order.symbol, client_order_id=order.client_order_id)
            except ExchangeError:
                continue  # reconciliation settles it
        if update.status != order.status or update.filled != order.filled:
            items.append((order, update, None))
    if not items:
        return False
    orders_apply(items=items, gateway=gateway)
    return True


def _open_order_view(bot: Bot, order: Order, now_ms: int, now: dt.datetime) -> OpenOrder:
    """The strategy's view of a working order. Its creation time is given on the market clock
    (`now_ms` minus the order's age), which on the paper exchange replays another period."""
    age_ms = max(0, int((now - order.created_at).total_seconds() * 1000))
    return OpenOrder(
        client_order_id=order.client_order_id,
        side=order.side,
        type=order.type,
        amount=order.amount,
        filled=order.filled,
        price=order.price,
        tag=order.tag,
        leg="secondary" if order.exchange_account_id == bot.secondary_exchange_account_id else "primary",
        created_ms=now_ms - age_ms,
    )


def _second_leg(bot: Bot, snap: Snapshot) -> Leg:
    """The second account's quote and what the bot holds there (its base balance)."""
    from exchanges.paper import split_symbol

    gateway = _gateway(bot.secondary_exchange_account)
    ticker = gateway.ticker(bot.symbol)
    base, _ = split_symbol(bot.symbol)
    held = gateway.balances().get(base)
    return Leg(
        quote=Quote(bid=ticker.bid or ticker.last, ask=ticker.ask or ticker.last, last=ticker.last),
        position=PositionView(held.free if held else ZERO, ticker.last),
    )


def _exposure(
    snap: Snapshot, working: list[Order], last: Decimal, pos: PositionView, degraded: bool, state: dict
) -> risk.Exposure:
    """The risk check's view of the bot: position, working orders (not the protective trigger
    orders), today's PnL and trades, equity against its peak (kept in the bot's state), the loss
    streak."""
    bot = snap.bot
    open_buy = sum((o.amount - o.filled for o in working if o.side == "buy"), ZERO)
    open_sell = sum((o.amount - o.filled for o in working if o.side == "sell"), ZERO)
    unrealized = (last - pos.average_entry_price) * pos.quantity if pos.quantity else ZERO
    snap.closed_today = ZERO
    daily = unrealized
    realized_total = ZERO
    streak, last_loss_ms, streak_open = 0, None, True
    for p in snap.positions:  # open first, then the newest closed
        net = p.realized_pnl - p.fees_paid + p.funding
        realized_total += net
        if p.closed_at is None:
            daily += net
            continue
        if p.closed_at >= snap.day_start:
            daily += net
            snap.closed_today += net
        if streak_open:
            if net < 0:
                streak += 1
                last_loss_ms = last_loss_ms or int(p.closed_at.timestamp() * 1000)
            else:
                streak_open = False
    equity = bot.capital + realized_total + unrealized
    peak = max(Decimal(state.get("equity_peak", "0")), equity)
    state["equity_peak"] = str(peak)
    return risk.Exposure(
        now_ms=int(time.time() * 1000),
        last_price=last,
        position_qty=pos.quantity,
        position_avg_price=pos.average_entry_price,
        open_orders=len(working),
        open_buy_qty=open_buy,
        open_sell_qty=open_sell,
        daily_pnl=daily,
        daily_trades=snap.orders_today,
        equity=equity,
        equity_peak=peak,
        consecutive_losses=streak,
        last_loss_ms=last_loss_ms,
        kill_switch=snap.kill_switch,
        degraded=degraded,
        leverage=bot.leverage,
        maintenance_rate=perps.maintenance_rate(bot) if perps.is_perp(bot) else None,
    )


def _cancel(snap: Snapshot, cids: tuple[str, ...], gateway) -> int:
    from bots.orders import order_cancel

    if not cids:
        return 0
    wanted = set(cids)
    canceled = 0
    for order in snap.open_orders:
        if order.client_order_id not in wanted:
            continue
        try:
            order_cancel(order=order, gateway=gateway if order.exchange_account_id == gateway.account.pk else None)
            canceled += 1
        except ExchangeError as exc:
            snap.events.append(_event(snap, "order.cancel_failed", f"Cancel failed: {exc.message}", EventLevel.WARNING))
    snap.open_orders = [o for o in snap.open_orders if o.client_order_id not in wanted]
    return canceled


def _check(
    snap: Snapshot, intents: list[OrderIntent], exposure: risk.Exposure, result: TickResult, state: dict
) -> list:
    """Every intent through the one risk check, in order; rejections become events and metrics.
    A rejection repeated at consecutive ticks (same intent, same reason) is one event, counted
    every time in the metric."""
    before = set(state.pop("rejected", []))
    if not intents:
        return []
    proposals = [
        risk.Proposal(symbol=snap.bot.symbol, side=i.side, type=i.type, amount=i.amount, price=i.price) for i in intents
    ]
    verdicts = verdicts_for(snap, proposals, exposure)
    approved = []
    for intent, verdict in zip(intents, verdicts, strict=True):
        if verdict.approved:
            approved.append(intent)
            continue
        result.rejected += 1
        risk_rejections.labels(code=verdict.code).inc()
        key = f"{verdict.code}:{intent.tag}"
        state.setdefault("rejected", []).append(key)
        if key in before:
            continue
        snap.events.append(
            _event(
                snap,
                "risk.rejected",
                f"{intent.side} {intent.amount} {snap.bot.symbol} ({intent.tag or 'order'}) rejected: {verdict.reason}",
                EventLevel.WARNING,
                code=verdict.code,
                tag=intent.tag,
            )
        )
    return approved


def _place(snap: Snapshot, intents: list[OrderIntent], gateway, result: TickResult, state: dict) -> None:
    from bots.orders import PlacementIntent, orders_place

    bot = snap.bot
    tick_no = bot.tick_count + 1
    if perps.is_perp(bot):
        refused = perps.margin_ensure(bot, gateway, state)
        if refused is not None:
            result.note = f"{len(intents)} order(s) held: {refused}"
            if state.get("margin_refused") != refused:
                snap.events.append(_event(snap, "bot.margin_refused", refused, EventLevel.ERROR))
            state["margin_refused"] = refused
            return
        state.pop("margin_refused", None)
    by_leg: dict[str, list[PlacementIntent]] = {}
    for intent in intents:
        if not intent.exit and (intent.stop_loss is not None or intent.take_profit is not None):
            protection.levels_remember(state, stop_loss=intent.stop_loss, take_profit=intent.take_profit)
    for n, intent in enumerate(intents):
        by_leg.setdefault(intent.leg, []).append(
            PlacementIntent(
                symbol=bot.symbol,
                side=intent.side,
                type=intent.type,
                amount=intent.amount,
                price=intent.price if intent.type == "limit" else None,
                bot=bot,
                intent_key=f"t{tick_no}:{intent.tag or n}",
                tag=intent.tag,
                reduce_only=intent.exit and perps.is_perp(bot),
            )
        )
    lines = []
    for leg, batch in by_leg.items():
        account = bot.secondary_exchange_account if leg == "secondary" else bot.exchange_account
        orders = orders_place(account=account, intents=batch, gateway=gateway if leg == "primary" else None)
        for order in orders:
            if order.status == "rejected":
                result.rejected += 1
            else:
                result.placed += 1
            lines.append(f"{order.side} {order.amount} @ {order.price or 'market'}: {order.status}")
    snap.events.append(
        _event(
            snap,
            "tick.orders",
            f"Tick {tick_no}: {'; '.join(lines)}" + (f" ({result.note})" if result.note else ""),
            EventLevel.INFO,
            tick=tick_no,
        )
    )


def _event(snap: Snapshot, kind: str, message: str, level: str, **data) -> BotEvent:
    return BotEvent(
        organization_id=snap.bot.organization_id, bot=snap.bot, kind=kind, message=message, level=level, data=data
    )


# -- other order paths ------------------------------------------------------------------------------
def risk_check_for_bot(*, bot: Bot, proposals: list[risk.Proposal], last_price: Decimal | None) -> list[risk.Verdict]:
    """The same pre-trade check a tick applies, for orders that come from elsewhere (a manual
    order, a Hummingbot config's sizes and prices)."""
    now = timezone.now()
    snap = load_snapshot(bot, now)
    pos = snap.position_view
    degraded = bot.status == BotStatus.DEGRADED or bot.exchange_account.circuit_state == CircuitState.OPEN
    reference = last_price if last_price is not None else pos.average_entry_price or None
    working = [o for o in snap.open_orders if not protection.is_protective(o)]
    exposure = _exposure(snap, working, reference or ZERO, pos, degraded, dict(bot.state or {}))
    if reference is None:
        exposure = dataclasses.replace(exposure, last_price=None)
    return verdicts_for(snap, proposals, exposure)


POOL_NAMES = {"account": "the account's bots together", "organization": "the organization's bots together"}


def verdicts_for(snap: Snapshot, proposals: list[risk.Proposal], exposure: risk.Exposure) -> list[risk.Verdict]:
    """The bot's own check (the strictest limit of every level applied to this bot), then, where
    an account or organization sets open-order, daily-trade or daily-loss limits, the same check
    against what all its bots hold and did today. An order passes only if every check passes."""
    verdicts = risk.check_batch(proposals, snap.limits, exposure)
    own_open_pnl = exposure.daily_pnl - snap.closed_today
    for level, limits, pool in snap.pools:
        shared = dataclasses.replace(
            exposure,
            open_orders=pool.open_orders,
            daily_trades=pool.orders_today,
            daily_pnl=pool.realized_today + own_open_pnl,
        )
        for i, verdict in enumerate(risk.check_batch(proposals, limits, shared)):
            if verdicts[i].approved and not verdict.approved:
                verdicts[i] = risk.Verdict(False, verdict.code, f"{verdict.reason} ({POOL_NAMES[level]})", False)
    return verdicts


def manual_order_place(
    *,
    bot: Bot,
    side: str,
    type: str,
    amount: Decimal,
    price: Decimal | None = None,
    user=None,
    source: str = "system",
) -> Order:
    """A person's order on a bot's account: trader role, the bot's risk limits, then the same safe
    placement as a tick. A rejection raises with the risk check's reason and is logged as an event."""
    from bots.orders import PlacementIntent, orders_place
    from bots.services import bot_event_record
    from organizations.models import Role
    from organizations.permissions import require_role

    require_role(user=user, organization=bot.organization_id, role=Role.TRADER, action="Placing an order")
    try:
        amount = Decimal(str(amount))
        price = Decimal(str(price)) if price not in (None, "") else None
    except ArithmeticError:
        raise ApplicationError("amount and price must be numbers.", field="amount") from None
    proposal = risk.Proposal(symbol=bot.symbol, side=side, type=type, amount=amount, price=price)
    last = None
    if proposal.side in ("buy", "sell"):
        try:
            last = _gateway(bot.exchange_account).ticker(bot.symbol).last
        except ExchangeError as exc:
            logger.info("No last price for the manual order on bot %s: %s", bot.pk, exc.message)
    verdict = risk_check_for_bot(bot=bot, proposals=[proposal], last_price=last)[0]
    if not verdict.approved:
        risk_rejections.labels(code=verdict.code).inc()
        bot_event_record(
            organization_id=bot.organization_id,
            bot=bot,
            kind="risk.rejected",
            message=f"Manual {side} {amount} {bot.symbol} rejected: {verdict.reason}",
            level=EventLevel.WARNING,
            data={"code": verdict.code, "manual": True},
            actor=user,
            source=source,
        )
        raise ApplicationError(verdict.reason, field="amount", code=verdict.code)
    order = orders_place(
        account=bot.exchange_account,
        intents=[
            PlacementIntent(symbol=bot.symbol, side=side, type=type, amount=amount, price=price, bot=bot, tag="manual")
        ],
    )[0]
    bot_event_record(
        organization_id=bot.organization_id,
        bot=bot,
        kind="order.manual",
        message=f"Manual {side} {amount} {bot.symbol}: {order.status}",
        data={"client_order_id": order.client_order_id},
        actor=user,
        source=source,
    )
    return order
