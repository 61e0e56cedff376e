"""The error policy: ccxt's hierarchy mapped once; reads retried with backoff inside a budget."""

import ccxt
import pytest

from exchanges.errors import (
    AuthError,
    DDoSProtectionError,
    DuplicateOrderError,
    ExchangeUnavailableError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    RetryableError,
    RetryPolicy,
    map_ccxt_error,
    retry_read,
)


@pytest.mark.parametrize(
    ("raised", "mapped", "permanent"),
    [
        (ccxt.RateLimitExceeded("x"), RateLimitError, False),
        (ccxt.DDoSProtection("x"), DDoSProtectionError, False),
        (ccxt.DDoSProtection("binance 429 Too Many Requests"), RateLimitError, False),
        (ccxt.RequestTimeout("x"), RequestTimeoutError, False),
        (ccxt.ExchangeNotAvailable("x"), ExchangeUnavailableError, False),
        (ccxt.OnMaintenance("x"), ExchangeUnavailableError, False),
        (ccxt.NetworkError("x"), RetryableError, False),
        (ccxt.AuthenticationError("x"), AuthError, True),
        (ccxt.PermissionDenied("x"), AuthError, True),
        (ccxt.InsufficientFunds("x"), InsufficientFundsError, True),
        (ccxt.InvalidOrder("x"), InvalidOrderError, True),
        (ccxt.OrderNotFound("x"), OrderNotFoundError, True),
        (ccxt.DuplicateOrderId("x"), DuplicateOrderError, True),
        (ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'), DuplicateOrderError, True),
    ],
)
def test_ccxt_errors_map_to_one_policy(raised, mapped, permanent):
    assert not issubclass(ccxt.RateLimitExceeded, ccxt.DDoSProtection)  # the trap this mapping avoids
    error = map_ccxt_error(raised)
    assert type(error) is mapped
    assert error.permanent is permanent


def test_messages_are_redacted():
    error = map_ccxt_error(ccxt.ExchangeError("failed: apiKey=AKIA123 signature=abc"))
    assert "AKIA123" not in error.message and "abc" not in error.message


def test_reads_back_off_with_jitter_and_stop_at_the_budget():
    sleeps: list[float] = []
    calls = iter([RateLimitError("a"), RequestTimeoutError("b"), "ok"])

    def call():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    policy = RetryPolicy(attempts=5, base_delay=0.1, max_delay=1, budget_seconds=10)
    assert retry_read(call, policy=policy, sleep=sleeps.append) == "ok"
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2

    def always():
        raise ExchangeUnavailableError("down")

    with pytest.raises(ExchangeUnavailableError):
        retry_read(always, policy=RetryPolicy(attempts=3, base_delay=0.1), sleep=sleeps.append)


def test_permanent_errors_are_not_retried():
    attempts = []

    def call():
        attempts.append(1)
        raise AuthError("bad key")

    with pytest.raises(AuthError):
        retry_read(call, sleep=lambda s: None)
    assert len(attempts) == 1
