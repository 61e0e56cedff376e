"""`Gateway`: an account's exchange client with the error policy applied.

Reads retry retryable errors with backoff and jitter inside a budget; order creation and
cancellation are sent once (the caller decides what an unknown outcome means). Every call passes
the account's circuit breaker, and unhealthy answers feed it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import TypeVar

from django.conf import settings

from exchanges.circuit import circuit_check, circuit_record_failure, circuit_record_success
from exchanges.client import ExchangeClient
from exchanges.errors import ExchangeError, RetryPolicy, retry_read
from exchanges.market_data import ReplayClock, ReplaySource
from exchanges.models import ExchangeAccount
from exchanges.perps import FundingEvent, PerpPosition
from exchanges.prometheus import EXCHANGE_ERRORS
from exchanges.types import Balance, Candle, ExchangeOrder, ExchangeTrade, Market, OrderBook, OrderRequest, Ticker

T = TypeVar("T")


@functools.cache
def paper_source() -> ReplaySource:
    """One replay source per process: candles are loaded into memory once per symbol."""
    return ReplaySource(exchange=settings.PAPER_DATA_EXCHANGE, timeframe=settings.PAPER_TIMEFRAME)


def paper_clock(source: ReplaySource, symbol: str = "BTC/USDT") -> ReplayClock:
    span = source.span(symbol)
    if span is None:
        raise ExchangeError(
            f"No {settings.PAPER_TIMEFRAME} candles stored for {symbol}: run `manage.py load_candles data/market/*`."
        )
    return ReplayClock(start_ms=span[0], end_ms=span[1])


def client_for_account(account: ExchangeAccount, *, clock=None, source: ReplaySource | None = None) -> ExchangeClient:
    """The exchange client an account trades through: the paper exchange, a venue another app
    serves (a DEX through Gateway), or ccxt."""
    from exchanges.venues import external_venue

    venue = external_venue(account.exchange)
    if venue is not None:
        return venue.factory(account)
    if account.is_paper:
        from exchanges.paper import PaperExchange

        source = source or paper_source()
        return PaperExchange(account, source=source, clock=clock or paper_clock(source))
    from exchanges.ccxt_client import CcxtClient

    return CcxtClient.from_account(account)


class Gateway:
    def __init__(
        self, account: ExchangeAccount, client: ExchangeClient | None = None, *, policy: RetryPolicy | None = None
    ) -> None:
        self.account = account
        self.client = client or client_for_account(account)
        self.policy = policy or RetryPolicy()

    def _guarded(self, call: Callable[[], T]) -> T:
        circuit_check(self.account)
        try:
            result = call()
        except ExchangeError as exc:
            EXCHANGE_ERRORS.labels(kind=exc.kind).inc()
            if not exc.permanent:
                circuit_record_failure(self.account)
            raise
        circuit_record_success(self.account)
        return result

    def _read(self, call: Callable[[], T]) -> T:
        return retry_read(lambda: self._guarded(call), policy=self.policy)

    # Reads: retried.
    def markets(self) -> dict[str, Market]:
        return self._read(self.client.markets)

    def ticker(self, symbol: str) -> Ticker:
        return self._read(lambda: self.client.ticker(symbol))

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        return self._read(lambda: self.client.order_book(symbol, limit))

    def ohlcv(self, symbol: str, timeframe: str, since: int | None = None, limit: int = 500) -> list[Candle]:
        return self._read(lambda: self.client.ohlcv(symbol, timeframe, since, limit))

    def balances(self) -> dict[str, Balance]:
        return self._read(self.client.balances)

    def fetch_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        return self._read(
            lambda: self.client.fetch_order(symbol=symbol, order_id=order_id, client_order_id=client_order_id)
        )

    def open_orders(
        self, symbol: str | None = None, client_order_ids: Collection[str] | None = None
    ) -> list[ExchangeOrder]:
        return self._read(lambda: self.client.open_orders(symbol, client_order_ids))

    def orders_since(self, symbol: str, since: int) -> list[ExchangeOrder]:
        return self._read(lambda: self.client.orders_since(symbol, since))

    def my_trades(self, symbol: str, since: int | None = None, limit: int | None = None) -> list[ExchangeTrade]:
        return self._read(lambda: self.client.my_trades(symbol, since, limit))

    def positions(self, symbols: Collection[str] | None = None) -> list[PerpPosition]:
        return self._read(lambda: self.client.positions(symbols))

    def funding_payments(self, symbol: str, since: int | None = None) -> list[FundingEvent]:
        return self._read(lambda: self.client.funding_payments(symbol, since))

    def signing_check(self) -> None:
        """Changes nothing on the exchange, so it is retried like a read."""
        self._read(self.client.signing_check)

    # Writes: sent once.
    def set_leverage(self, symbol: str, *, leverage, margin_mode: str) -> None:
        """Idempotent (it sets a value), so retried like a read."""
        self._read(lambda: self.client.set_leverage(symbol, leverage=leverage, margin_mode=margin_mode))

    def create_order(self, request: OrderRequest) -> ExchangeOrder:
        return self._guarded(lambda: self.client.create_order(request))

    def create_orders(self, requests: list[OrderRequest]) -> list[ExchangeOrder | ExchangeError]:
        """Sent once each. Per-order errors come back in the list; the breaker counts a batch as
        unhealthy when every order failed for a retryable reason."""
        circuit_check(self.account)
        answers = self.client.create_orders(requests)
        if answers and all(isinstance(a, ExchangeError) and not a.permanent for a in answers):
            circuit_record_failure(self.account)
        else:
            circuit_record_success(self.account)
        return answers

    def cancel_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        return self._guarded(
            lambda: self.client.cancel_order(symbol=symbol, order_id=order_id, client_order_id=client_order_id)
        )
