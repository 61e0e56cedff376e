"""The bot's risk limits (risk.engine.Limits) in Hummingbot terms.

Hummingbot has no pre-trade check of ours, so each limit becomes the nearest thing it has, or the
config is refused when nothing near exists (docs/hummingbot.md, "Strategy configs"):
- max_order_notional caps the order amount at the reference price (refused without one);
- max_position_notional becomes a `/balance/limit` on the quote asset (live connectors only);
- max_open_orders must cover the orders the strategy keeps open at once;
- max_daily_loss / max_drawdown_pct become the client kill switch (a negative % rate) and, for
  V2, the script's drawdown limits in quote.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from core.errors import ApplicationError
from hummingbot.converter.config import plain
from risk.engine import LIMIT_FIELDS, Limits

QUANTUM = Decimal("0.00000001")
HUNDRED = Decimal(100)


def _tidy(value: Decimal) -> Decimal:
    """Without trailing zeros, and without an exponent for whole numbers (60600, not 6.06E+4)."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value


def floor8(value: Decimal) -> Decimal:
    """Rounded down to 8 decimals (never more than meant)."""
    return _tidy(value.quantize(QUANTUM, rounding=ROUND_DOWN))


def round8(value: Decimal) -> Decimal:
    return _tidy(value.quantize(QUANTUM))


def check_limits(limits: Limits) -> None:
    """Every set limit is a finite, non-negative number (an unusable limit is refused, not ignored)."""
    for name in LIMIT_FIELDS:
        value = getattr(limits, name)
        if value is None or name == "allowed_symbols":
            continue
        ok = isinstance(value, int | Decimal) and not isinstance(value, bool)
        if not ok or (isinstance(value, Decimal) and not value.is_finite()) or value < 0:
            raise ApplicationError(f"{name} must be a non-negative number, got {value!r}.", field=f"limits.{name}")


def check_symbol_allowed(limits: Limits, symbol: str) -> None:
    if limits.allowed_symbols is not None and symbol not in limits.allowed_symbols:
        raise ApplicationError(f"{symbol} is not among the allowed symbols.", field="symbol")


def cap_order_amount(
    amount: Decimal, *, extra: Decimal, limits: Limits, reference_price: Decimal | None
) -> tuple[Decimal, bool]:
    """(amount, capped): the base amount of the smallest order, cut so the largest order (amount +
    `extra`) stays within max_order_notional at the reference price. Without a reference price
    a set cap cannot be checked, so the config is refused."""
    cap = limits.max_order_notional
    if cap is None:
        return amount, False
    if reference_price is None:
        raise ApplicationError(
            f"max_order_notional is {plain(cap)}: give a reference price so the order amount can be checked "
            "against it.",
            field="reference_price",
        )
    room = floor8(cap / reference_price) - extra
    if room <= 0:
        raise ApplicationError(
            f"max_order_notional {plain(cap)} leaves no room for an order at {plain(reference_price)}.",
            field="limits.max_order_notional",
        )
    if amount <= room:
        return amount, False
    return room, True


def check_open_orders(needed: int, limits: Limits, *, field: str, what: str) -> None:
    cap = limits.max_open_orders
    if cap is not None and needed > cap:
        raise ApplicationError(
            f"{what} keeps {needed} orders open but max_open_orders is {cap}.",
            field=field,
        )


def kill_switch_rate(limits: Limits, capital: Decimal | None) -> Decimal | None:
    """Hummingbot's kill_switch_rate (negative %): the stricter of max_drawdown_pct and
    max_daily_loss as a share of capital; None when neither is set."""
    rates = []
    if limits.max_drawdown_pct is not None and limits.max_drawdown_pct > 0:
        rates.append(-limits.max_drawdown_pct)
    if limits.max_daily_loss is not None and limits.max_daily_loss > 0:
        if capital is None:
            raise ApplicationError(
                "max_daily_loss is set: give the bot's capital so it can become Hummingbot's kill switch rate "
                "(a % of the portfolio).",
                field="capital",
            )
        rates.append(-round8(limits.max_daily_loss / capital * HUNDRED))
    if not rates:
        return None
    return max(max(rates), -HUNDRED)


def client_overrides(limits: Limits, capital: Decimal | None) -> dict:
    rate = kill_switch_rate(limits, capital)
    return {} if rate is None else {"kill_switch_mode": {"kill_switch_rate": rate}}


def drawdown_quote(limits: Limits, capital: Decimal | None) -> Decimal | None:
    """The loss in quote at which a V2 script stops its controller: the smaller of max_daily_loss
    and max_drawdown_pct of capital (None when neither can be computed)."""
    amounts = []
    if limits.max_daily_loss is not None and limits.max_daily_loss > 0:
        amounts.append(limits.max_daily_loss)
    if limits.max_drawdown_pct is not None and limits.max_drawdown_pct > 0 and capital is not None:
        amounts.append(round8(capital * limits.max_drawdown_pct / HUNDRED))
    return min(amounts) if amounts else None


def balance_limits(venues: list[tuple[str, str]], limits: Limits, *, paper: bool) -> tuple:
    """`/balance/limit` calls, (connector, quote asset, amount), capping the quote Hummingbot may
    spend on each venue. Paper connectors keep their own paper balances, so nothing is limited there."""
    cap = limits.max_position_notional
    if cap is None or paper:
        return ()
    return tuple((connector, quote, cap) for connector, quote in dict.fromkeys(venues))
