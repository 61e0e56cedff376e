"""The pre-trade risk check: pure functions of plain data (no ORM, no I/O), so the live tick, the
backtester and the tests apply the same rules. Money and quantities are Decimal throughout.

`check(proposal, limits, exposure)` answers with a `Verdict`; it never raises for inputs of the
declared types. The rules, in the order they are applied (the first that fails gives the code):

1. An invalid proposal is rejected ("invalid"): side other than buy/sell, type other than
   market/limit, an empty symbol, an amount that is not a positive finite number, a limit order
   without a positive finite price, a non-finite price on a market order.
   Limits or exposure that hold a non-number, a non-finite number, or a negative count or working
   amount are rejected too ("invalid_state"): the check cannot vouch for anything then.
2. An engaged kill switch rejects every order, exits included ("kill_switch"). A missing kill
   switch or breaker flag reads as set.
3. The engine decides itself whether the order only reduces the position ("reduces"), counting the
   working orders on the same side: a sell reduces when the position is long and
   amount <= position_qty - open_sell_qty; a buy reduces when the position is short and
   amount <= -position_qty - open_buy_qty.
4. The price band applies to every limit order, exits included: a limit price more than
   price_band_pct % away from last_price is rejected ("price_band"); with a band set and no
   positive last_price a limit order is rejected ("no_reference_price"). Market orders carry no
   price to check.
5. An order that only reduces passes every other limit, so risk can always be cut.
6. Every other order is an entry and is rejected when
   - the account's circuit breaker is open ("degraded");
   - the symbol is not in the allowed symbols ("symbol_not_allowed"; an empty set allows none);
   - today's loss, -daily_pnl, has reached max_daily_loss ("daily_loss");
   - the drawdown (equity_peak - equity) / equity_peak * 100 has reached max_drawdown_pct
     ("max_drawdown"; only when both are known and the peak is positive);
   - consecutive_losses has reached loss_cooldown_count and the last loss is less than
     loss_cooldown_minutes old ("loss_cooldown"); a count without minutes blocks entries until a
     win resets the count, and an unknown time of the last loss does not block;
   - open_orders + 1 > max_open_orders ("max_open_orders");
   - daily_trades + 1 > max_daily_trades ("max_daily_trades");
   - a notional limit is set but a market order has no positive last_price to be valued at
     ("no_reference_price");
   - amount * price (the limit price, or last_price for a market order) > max_order_notional
     ("max_order_notional");
   - the worst-case position, |position_qty + open_buy_qty + amount| for a buy or
     |position_qty - open_sell_qty - amount| for a sell, valued at the higher of the limit price
     and last_price (last_price for a market order), > max_position_notional
     ("max_position_notional").
   - perpetuals only (the exposure carries a maintenance margin rate): the bot's leverage is above
     max_leverage ("max_leverage"); or the worst-case position after the order (as for the
     position notional, its entry averaged with the order at the valuation price) would have its
     liquidation price (`exchanges.perps.liquidation_price`, with the initial margin of that
     position at the bot's leverage as its margin: what an isolated position posts, and a floor
     for a cross one) less than min_liquidation_distance_pct % from last_price
     ("liquidation_distance").
7. Reasons are sentences with readable numbers.

`check_batch` checks proposals in order and adds every approved one to the exposure
(`exposure_after`) before the next, so a batch cannot breach together what one order could not.
`protective_exit` turns the default stop-loss / take-profit into a closing market order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from decimal import MAX_EMAX, MIN_EMIN, ROUND_CEILING, ROUND_FLOOR, Context, Decimal, localcontext
from typing import Any

from exchanges import perps

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MINUTE_MS = 60_000
BUY, SELL = "buy", "sell"
MARKET, LIMIT = "market", "limit"

CODES = (
    "ok",
    "invalid",
    "invalid_state",
    "kill_switch",
    "price_band",
    "no_reference_price",
    "degraded",
    "symbol_not_allowed",
    "daily_loss",
    "max_drawdown",
    "loss_cooldown",
    "max_open_orders",
    "max_daily_trades",
    "max_order_notional",
    "max_position_notional",
    "max_leverage",
    "liquidation_distance",
)

# Products of two 38-digit money values stay exact at 100 digits. No traps: an absurd input
# overflows to Infinity instead of raising, and the comparisons below treat NaN as a breach.
_CONTEXT = Context(prec=100, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])


@dataclass(frozen=True)
class Limits:
    """Effective limits, usually `merge_limits` of the organization, account and bot rows.
    None means no limit."""

    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_open_orders: int | None = None
    max_daily_loss: Decimal | None = None  # positive, in quote
    max_daily_trades: int | None = None
    max_drawdown_pct: Decimal | None = None
    default_stop_loss_pct: Decimal | None = None
    default_take_profit_pct: Decimal | None = None
    price_band_pct: Decimal | None = None
    allowed_symbols: frozenset[str] | None = None  # None: every symbol; empty: none
    loss_cooldown_count: int | None = None
    loss_cooldown_minutes: int | None = None
    max_leverage: Decimal | None = None
    min_liquidation_distance_pct: Decimal | None = None


LIMIT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Limits))
_INT_LIMITS = frozenset({"max_open_orders", "max_daily_trades", "loss_cooldown_count", "loss_cooldown_minutes"})
_NUMBER_LIMITS = tuple(name for name in LIMIT_FIELDS if name != "allowed_symbols")


@dataclass(frozen=True)
class Exposure:
    """The bot's state when the check runs."""

    now_ms: int
    last_price: Decimal | None  # reference for the band and for a market order's notional
    position_qty: Decimal = ZERO  # signed: negative is short
    position_avg_price: Decimal = ZERO
    open_orders: int = 0  # working orders of the bot
    open_buy_qty: Decimal = ZERO  # remaining amount of working buys
    open_sell_qty: Decimal = ZERO  # remaining amount of working sells
    daily_pnl: Decimal = ZERO  # realized + unrealized since 00:00 UTC; negative is a loss
    daily_trades: int = 0  # orders placed since 00:00 UTC
    equity: Decimal | None = None
    equity_peak: Decimal | None = None
    consecutive_losses: int = 0
    last_loss_ms: int | None = None
    kill_switch: bool = False
    degraded: bool = False  # the account's circuit breaker is open: no new exposure
    leverage: Decimal = Decimal(1)  # perpetuals: the bot's leverage
    maintenance_rate: Decimal | None = None  # perpetuals: the market's; None for spot


@dataclass(frozen=True)
class Proposal:
    symbol: str
    side: str  # buy | sell
    type: str  # market | limit
    amount: Decimal
    price: Decimal | None = None


@dataclass(frozen=True)
class Verdict:
    approved: bool
    code: str  # "ok" or one of CODES
    reason: str
    reduces: bool  # the engine's finding that the order only reduces the position


# (name, may be None, must be >= 0)
_EXPOSURE_NUMBERS = (
    ("now_ms", False, False),
    ("last_price", True, False),
    ("position_qty", False, False),
    ("position_avg_price", False, False),
    ("open_orders", False, True),
    ("open_buy_qty", False, True),
    ("open_sell_qty", False, True),
    ("daily_pnl", False, False),
    ("daily_trades", False, True),
    ("equity", True, False),
    ("equity_peak", True, False),
    ("consecutive_losses", False, True),
    ("last_loss_ms", True, False),
    ("leverage", False, True),
    ("maintenance_rate", True, True),
)


def merge_limits(levels: Iterable[Mapping[str, Any] | Any]) -> Limits:
    """The strictest limits across levels (organization, account, bot): the smallest of each
    number, the intersection of the non-empty allowed_symbols lists. A level's None or empty value
    means no limit at that level; a level that is None is skipped. Accepts mappings or objects with
    the attributes (RiskLimits rows). Raises ValueError for a value that is not a finite number."""
    merged: dict[str, Any] = {}
    for level in levels:
        if level is None:
            continue
        for name in LIMIT_FIELDS:
            value = level.get(name) if isinstance(level, Mapping) else getattr(level, name, None)
            if name == "allowed_symbols":
                symbols = _symbol_set(value)
                if symbols:
                    current = merged.get(name)
                    merged[name] = symbols if current is None else current & symbols
                continue
            number = _limit_number(name, value)
            if number is not None:
                merged[name] = number if merged.get(name) is None else min(merged[name], number)
    return Limits(**merged)


def check(proposal: Proposal, limits: Limits, exposure: Exposure) -> Verdict:
    """Approve or reject one proposal against the limits, given the bot's exposure."""
    with localcontext(_CONTEXT):
        order = _clean_proposal(proposal)
        if isinstance(order, str):
            return Verdict(False, "invalid", order, False)
        state = _clean_state(limits, exposure)
        if isinstance(state, str):
            return Verdict(False, "invalid_state", state, False)
        lim, exp = state
        reduces = _reduces(order, exp)
        if exp.kill_switch:
            return Verdict(False, "kill_switch", "The kill switch is engaged: no order is placed.", reduces)
        rejection = _price_band(order, lim, exp)
        if rejection is not None:
            return Verdict(False, *rejection, reduces)
        if reduces:
            return Verdict(True, "ok", "The order only reduces the position, so no entry limit applies.", True)
        for rule in _ENTRY_RULES:
            rejection = rule(order, lim, exp)
            if rejection is not None:
                return Verdict(False, *rejection, False)
        return Verdict(True, "ok", "The order is within every limit.", False)


def check_batch(proposals: Sequence[Proposal], limits: Limits, exposure: Exposure) -> list[Verdict]:
    """Check proposals in order; each approved one is added to the exposure before the next."""
    verdicts = []
    for proposal in proposals:
        verdict = check(proposal, limits, exposure)
        verdicts.append(verdict)
        if verdict.approved:
            exposure = exposure_after(proposal, exposure)
    return verdicts


def exposure_after(proposal: Proposal, exposure: Exposure) -> Exposure:
    """The exposure once the proposal is working: one more open order and one more trade today,
    its amount added to the working buys or sells."""
    with localcontext(_CONTEXT):
        changes: dict[str, Any] = {"open_orders": exposure.open_orders + 1, "daily_trades": exposure.daily_trades + 1}
        if proposal.side == BUY:
            changes["open_buy_qty"] = exposure.open_buy_qty + proposal.amount
        elif proposal.side == SELL:
            changes["open_sell_qty"] = exposure.open_sell_qty + proposal.amount
        else:
            raise ValueError(f"Unknown side {proposal.side!r}.")
        return replace(exposure, **changes)


def protective_exit(limits: Limits, exposure: Exposure, symbol: str) -> Proposal | None:
    """The default stop-loss / take-profit: a market order closing the whole position, net of the
    working orders on the closing side, when last_price has crossed a default level. A long
    position exits at last <= avg * (1 - sl%) or last >= avg * (1 + tp%), a short one at
    last >= avg * (1 + sl%) or last <= avg * (1 - tp%). None when no level is crossed, no default
    is set, a price is missing, or the working orders already close the position. The exit still
    goes through `check` (the kill switch holds it, for one)."""
    with localcontext(_CONTEXT):
        state = _clean_state(limits, exposure)
        if isinstance(state, str):
            return None
        lim, exp = state
        qty, avg, last = exp.position_qty, exp.position_avg_price, exp.last_price
        stop, take = lim.default_stop_loss_pct, lim.default_take_profit_pct
        if qty == 0 or avg <= 0 or last is None or last <= 0 or (stop is None and take is None):
            return None
        if qty > 0:
            crossed = (stop is not None and last <= avg * (1 - stop / HUNDRED)) or (
                take is not None and last >= avg * (1 + take / HUNDRED)
            )
            side, amount = SELL, qty - exp.open_sell_qty
        else:
            crossed = (stop is not None and last >= avg * (1 + stop / HUNDRED)) or (
                take is not None and last <= avg * (1 - take / HUNDRED)
            )
            side, amount = BUY, -qty - exp.open_buy_qty
        if not crossed:
            return None
        if not amount > 0:
            return None
        return Proposal(symbol=symbol, side=side, type=MARKET, amount=amount)


# --- validation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Order:
    symbol: str
    side: str
    type: str
    amount: Decimal
    price: Decimal | None


def _number(value: object) -> Decimal | None:
    """The value as a finite Decimal; None for anything else (floats and bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


def _clean_proposal(proposal: Proposal) -> _Order | str:
    symbol = getattr(proposal, "symbol", None)
    side = getattr(proposal, "side", None)
    kind = getattr(proposal, "type", None)
    raw_amount = getattr(proposal, "amount", None)
    raw_price = getattr(proposal, "price", None)
    if not isinstance(symbol, str) or not symbol:
        return "The order names no symbol."
    if side not in (BUY, SELL):
        return f"Side must be buy or sell, not {_show(side)}."
    if kind not in (MARKET, LIMIT):
        return f"Type must be market or limit, not {_show(kind)}."
    amount = _number(raw_amount)
    if amount is None or amount <= 0:
        return f"Amount must be a positive finite number, not {_show(raw_amount)}."
    price = _number(raw_price)
    if kind == LIMIT and (price is None or price <= 0):
        return f"A limit order needs a positive finite price, not {_show(raw_price)}."
    if raw_price is not None and price is None:
        return f"Price must be a finite number, not {_show(raw_price)}."
    return _Order(symbol, side, kind, amount, price if kind == LIMIT else None)


def _clean_state(limits: Limits, exposure: Exposure) -> tuple[Limits, Exposure] | str:
    """Limits and exposure with every number as a finite Decimal, or why they cannot be used."""
    limit_values: dict[str, Any] = {}
    for name in _NUMBER_LIMITS:
        raw = getattr(limits, name, None)
        number = _number(raw)
        if raw is not None and number is None:
            return f"The limit {name} is not a finite number: {_show(raw)}."
        limit_values[name] = number
    symbols = getattr(limits, "allowed_symbols", None)
    if isinstance(symbols, str):
        symbols = frozenset({symbols})
    elif symbols is not None:
        try:
            symbols = frozenset(symbols)
        except TypeError:
            return f"The allowed symbols are not a collection of names: {_show(symbols)}."
    limit_values["allowed_symbols"] = symbols

    exposure_values: dict[str, Any] = {}
    for name, optional, non_negative in _EXPOSURE_NUMBERS:
        raw = getattr(exposure, name, None)
        number = _number(raw)
        if number is None and not (optional and raw is None):
            return f"The exposure's {name} is not a finite number: {_show(raw)}."
        if non_negative and number is not None and number < 0:
            return f"The exposure's {name} is negative: {_fmt(number, 0)}."
        exposure_values[name] = number
    if exposure_values["last_price"] is not None and exposure_values["last_price"] <= 0:
        exposure_values["last_price"] = None  # no usable reference price
    exposure_values["kill_switch"] = _flag(getattr(exposure, "kill_switch", None))
    exposure_values["degraded"] = _flag(getattr(exposure, "degraded", None))
    return Limits(**limit_values), Exposure(**exposure_values)


# --- rules ------------------------------------------------------------------------------------

_Rejection = tuple[str, str]


def _exceeds(value: Decimal, limit: Decimal) -> bool:
    return value.is_nan() or limit.is_nan() or value > limit


def _reaches(value: Decimal, limit: Decimal) -> bool:
    return value.is_nan() or limit.is_nan() or value >= limit


def _reduces(order: _Order, exp: Exposure) -> bool:
    if order.side == SELL:
        return exp.position_qty > 0 and order.amount <= exp.position_qty - exp.open_sell_qty
    return exp.position_qty < 0 and order.amount <= -exp.position_qty - exp.open_buy_qty


def _price_band(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    band = lim.price_band_pct
    if band is None or order.type != LIMIT:
        return None
    last = exp.last_price
    if last is None:
        return (
            "no_reference_price",
            f"No last price to hold the limit price {_fmt(order.price)} to the {_pct(band)} band.",
        )
    # Division, not cross-multiplication: the ratio cannot overflow into an Infinity-vs-Infinity tie.
    away = abs(order.price - last) / last * HUNDRED
    if _exceeds(away, band):
        return (
            "price_band",
            f"Limit price {_fmt(order.price)} is {_pct(away)} away from the last price {_fmt(last)}; "
            f"the band is {_pct(band)}.",
        )
    return None


def _degraded(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    if exp.degraded:
        return "degraded", "The account's circuit breaker is open: only orders that reduce the position are allowed."
    return None


def _symbol_allowed(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    allowed = lim.allowed_symbols
    if allowed is None or order.symbol in allowed:
        return None
    symbol = _clip(order.symbol)
    if not allowed:
        return "symbol_not_allowed", f"{symbol} is not allowed: the levels' allowed symbols have none in common."
    names = sorted(_clip(str(name)) for name in allowed)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return "symbol_not_allowed", f"{symbol} is not among the allowed symbols ({shown})."


def _daily_loss(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    limit = lim.max_daily_loss
    if limit is not None and _reaches(-exp.daily_pnl, limit):
        return "daily_loss", f"Today's loss {_fmt(-exp.daily_pnl)} has reached the daily limit {_fmt(limit)}."
    return None


def _drawdown(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    limit, equity, peak = lim.max_drawdown_pct, exp.equity, exp.equity_peak
    if limit is None or equity is None or peak is None or peak <= 0:
        return None
    drawdown = (peak - equity) / peak * HUNDRED
    if _reaches(drawdown, limit):
        return (
            "max_drawdown",
            f"Drawdown {_pct(drawdown)} from the equity peak {_fmt(peak)} has reached the limit {_pct(limit)}.",
        )
    return None


def _cooldown(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    count, minutes = lim.loss_cooldown_count, lim.loss_cooldown_minutes
    if count is None or exp.consecutive_losses < count:
        return None
    losses = _fmt(exp.consecutive_losses, 0)
    if minutes is None:
        return (
            "loss_cooldown",
            f"{losses} consecutive losses (limit {_fmt(count, 0)}): entries wait for a winning trade.",
        )
    if exp.last_loss_ms is None:
        return None
    remaining_ms = exp.last_loss_ms + minutes * MINUTE_MS - exp.now_ms
    if remaining_ms <= 0:
        return None
    left = (remaining_ms / MINUTE_MS).to_integral_value(rounding=ROUND_CEILING)
    return (
        "loss_cooldown",
        f"{losses} consecutive losses (limit {_fmt(count, 0)}): entries pause {_fmt(minutes, 0)} minutes "
        f"after the last loss, {_fmt(left, 0)} more.",
    )


def _open_orders(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    limit = lim.max_open_orders
    if limit is not None and exp.open_orders + 1 > limit:
        return (
            "max_open_orders",
            f"{_fmt(exp.open_orders, 0)} open orders plus this one exceed the limit {_fmt(limit, 0)}.",
        )
    return None


def _daily_trades(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    limit = lim.max_daily_trades
    if limit is not None and exp.daily_trades + 1 > limit:
        return (
            "max_daily_trades",
            f"{_fmt(exp.daily_trades, 0)} orders today plus this one exceed the daily limit {_fmt(limit, 0)}.",
        )
    return None


def _notional(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    if lim.max_order_notional is None and lim.max_position_notional is None:
        return None
    price = order.price if order.type == LIMIT else exp.last_price
    if price is None:
        return "no_reference_price", "No last price to value the market order against the notional limits."
    limit = lim.max_order_notional
    notional = order.amount * price
    if limit is not None and _exceeds(notional, limit):
        return "max_order_notional", f"Order notional {_fmt(notional)} exceeds the limit {_fmt(limit)}."
    limit = lim.max_position_notional
    if limit is None:
        return None
    # Worst case: every working order on the same side fills, none on the other side does.
    if order.side == BUY:
        projected = exp.position_qty + exp.open_buy_qty + order.amount
    else:
        projected = exp.position_qty - exp.open_sell_qty - order.amount
    mark = price if exp.last_price is None else max(price, exp.last_price)
    value = abs(projected) * mark
    if _exceeds(value, limit):
        return (
            "max_position_notional",
            f"Worst-case position notional {_fmt(value)} ({_fmt(projected)} at {_fmt(mark)}) "
            f"exceeds the limit {_fmt(limit)}.",
        )
    return None


def _leverage(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    if exp.maintenance_rate is None or lim.max_leverage is None:
        return None
    if _exceeds(exp.leverage, lim.max_leverage):
        return "max_leverage", f"Leverage {_fmt(exp.leverage, 0)}x exceeds the limit {_fmt(lim.max_leverage, 0)}x."
    return None


def _liquidation_distance(order: _Order, lim: Limits, exp: Exposure) -> _Rejection | None:
    limit = lim.min_liquidation_distance_pct
    if exp.maintenance_rate is None or limit is None:
        return None
    price = order.price if order.type == LIMIT else exp.last_price
    if price is None or exp.last_price is None:
        return "no_reference_price", "No last price to place the liquidation price against."
    if exp.leverage <= 0:
        return "invalid_state", "The bot's leverage is not positive."
    if order.side == BUY:
        added = exp.open_buy_qty + order.amount
    else:
        added = -(exp.open_sell_qty + order.amount)
    projected = exp.position_qty + added
    if projected == 0:
        return None
    if exp.position_qty == 0 or (exp.position_qty > 0) != (projected > 0):
        entry = price  # opened (or flipped) at the order's price
    elif abs(projected) > abs(exp.position_qty):
        entry = (abs(exp.position_qty) * exp.position_avg_price + abs(added) * price) / abs(projected)
    else:
        entry = exp.position_avg_price
    margin = abs(projected) * entry / exp.leverage
    liquidation = perps.liquidation_price(quantity=projected, entry=entry, margin=margin, mmr=exp.maintenance_rate)
    distance = perps.liquidation_distance_pct(quantity=projected, mark=exp.last_price, liquidation=liquidation)
    if distance is not None and distance < limit:
        return (
            "liquidation_distance",
            f"The position would be liquidated at {_fmt(liquidation)}, {_pct(distance)} from the price "
            f"{_fmt(exp.last_price)}; the limit is at least {_pct(limit)}.",
        )
    return None


_ENTRY_RULES = (
    _degraded,
    _symbol_allowed,
    _daily_loss,
    _drawdown,
    _cooldown,
    _open_orders,
    _daily_trades,
    _notional,
    _leverage,
    _liquidation_distance,
)


# --- helpers ----------------------------------------------------------------------------------

_BIG = Decimal("1e15")
_SMALL = Decimal("1e-8")


def _fmt(value: Decimal, min_places: int = 2) -> str:
    """A number for a sentence: thousands separators and between `min_places` and 8 decimals;
    scientific notation outside that range, so a reason never balloons."""
    if not value.is_finite():
        return str(value)
    if value == 0:
        value = ZERO  # no "-0.00"
    magnitude = abs(value)
    if magnitude >= _BIG or (magnitude < _SMALL and magnitude != 0):
        return f"{value:.4E}"
    whole, _, decimals = f"{value.quantize(_SMALL):,f}".partition(".")
    decimals = decimals.rstrip("0").ljust(min_places, "0")
    return f"{whole}.{decimals}" if decimals else whole


def _pct(value: Decimal) -> str:
    return f"{_fmt(value, 0)}%"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _show(value: object) -> str:
    """An offending input for a reason, kept short whatever it is."""
    if isinstance(value, Decimal) and value.is_finite():
        return _fmt(value)
    return _clip(repr(value))


def _flag(value: object) -> bool:
    """A kill-switch or breaker flag; a missing or unreadable one reads as set, the safe side."""
    if value is None:
        return True
    try:
        return bool(value)
    except (TypeError, ValueError):
        return True


def _symbol_set(value: Any) -> frozenset[str] | None:
    if not value:
        return None
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(str(symbol) for symbol in value)


def _limit_number(name: str, value: Any) -> Decimal | int | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or not number.is_finite():
        raise ValueError(f"The risk limit {name} is not a finite number: {value!r}.")
    if name in _INT_LIMITS:
        # A fractional count rounds down: the stricter reading.
        return int(number.to_integral_value(rounding=ROUND_FLOOR))
    return number
