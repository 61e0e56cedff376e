"""The exchange error policy, mapped once from ccxt's hierarchy.

Every exchange failure becomes one `ExchangeError` with `permanent` and `kind`:
- retryable (permanent=False): network errors, timeouts, 429 rate limits, DDoS protection,
  exchange unavailable. Reads retry them with backoff; order creation never retries blindly.
- permanent: authentication (pauses the account's bots, no retry), insufficient funds and
  invalid orders (the order is rejected with the exchange's reason), order not found,
  duplicate client order id (the order was already placed).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import ccxt

from exchanges.secrets import redact

T = TypeVar("T")


class ExchangeError(Exception):
    """An exchange call failed. The message is safe to show and log (credentials are redacted)."""

    kind = "exchange"
    permanent = True

    def __init__(self, message: str, *, permanent: bool | None = None) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        if permanent is not None:
            self.permanent = permanent


class RetryableError(ExchangeError):
    kind = "network"
    permanent = False


class RequestTimeoutError(RetryableError):
    """No answer in time: for a write, the outcome is unknown."""

    kind = "timeout"


class RateLimitError(RetryableError):
    kind = "rate_limit"


class DDoSProtectionError(RetryableError):
    kind = "ddos_protection"


class ExchangeUnavailableError(RetryableError):
    kind = "unavailable"


class CircuitOpenError(RetryableError):
    """Our breaker refused the call: the exchange has been failing; try again after the cooldown."""

    kind = "circuit_open"


class AuthError(ExchangeError):
    kind = "authentication"


class InsufficientFundsError(ExchangeError):
    kind = "insufficient_funds"


class InvalidOrderError(ExchangeError):
    kind = "invalid_order"


class OrderNotFoundError(ExchangeError):
    kind = "order_not_found"


class DuplicateOrderError(ExchangeError):
    kind = "duplicate_order"


# Most specific first: ccxt's OrderNotFound and DuplicateOrderId are InvalidOrder subclasses, and
# RateLimitExceeded is a NetworkError sibling of DDoSProtection (not its subclass) in ccxt 4.
_CCXT_MAP: list[tuple[type[Exception], type[ExchangeError]]] = [
    (ccxt.OrderNotFound, OrderNotFoundError),
    (ccxt.DuplicateOrderId, DuplicateOrderError),
    (ccxt.InsufficientFunds, InsufficientFundsError),
    (ccxt.InvalidOrder, InvalidOrderError),
    (ccxt.AuthenticationError, AuthError),
    (ccxt.RateLimitExceeded, RateLimitError),
    (ccxt.DDoSProtection, DDoSProtectionError),
    (ccxt.RequestTimeout, RequestTimeoutError),
    (ccxt.ExchangeNotAvailable, ExchangeUnavailableError),
    (ccxt.NetworkError, RetryableError),
    (ccxt.BadSymbol, InvalidOrderError),
]


def map_ccxt_error(exc: Exception) -> ExchangeError:
    # Some exchanges' error tables file an HTTP 429 under DDoSProtection (Binance's -1003); it is a
    # rate limit all the same.
    if isinstance(exc, ccxt.DDoSProtection) and " 429 " in str(exc):
        return RateLimitError(f"RateLimitExceeded: {exc}")
    # Binance answers a reused open client order id with -2010 "Duplicate order sent.", which ccxt
    # files as a plain InvalidOrder: it means the order is already placed.
    if isinstance(exc, ccxt.InvalidOrder) and "duplicate order" in str(exc).lower():
        return DuplicateOrderError(f"DuplicateOrderId: {exc}")
    for ccxt_class, ours in _CCXT_MAP:
        if isinstance(exc, ccxt_class):
            return ours(f"{type(exc).__name__}: {exc}")
    return ExchangeError(f"{type(exc).__name__}: {exc}")


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and by total sleep."""

    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    budget_seconds: float = 10.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311 - jitter, not crypto


def retry_read(
    call: Callable[[], T], *, policy: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Run an idempotent read, retrying retryable errors; permanent ones raise at once."""
    policy = policy or RetryPolicy()
    slept = 0.0
    for attempt in range(policy.attempts):
        try:
            return call()
        except ExchangeError as exc:
            if exc.permanent or isinstance(exc, CircuitOpenError) or attempt == policy.attempts - 1:
                raise
            pause = policy.delay(attempt)
            if slept + pause > policy.budget_seconds:
                raise
            sleep(pause)
            slept += pause
    raise AssertionError("unreachable")
