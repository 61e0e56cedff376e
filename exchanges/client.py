"""The one exchange interface. Two implementations: `CcxtClient` (real exchanges) and
`PaperExchange` (replayed real candles, balances in our database)."""

from __future__ import annotations

import abc
from collections.abc import Collection
from decimal import Decimal

from exchanges.errors import ExchangeError, InvalidOrderError
from exchanges.perps import FundingEvent, PerpPosition
from exchanges.types import Balance, Candle, ExchangeOrder, ExchangeTrade, Market, OrderBook, OrderRequest, Ticker


class ExchangeClient(abc.ABC):
    """Every method raises `exchanges.errors.ExchangeError` subclasses, never a library's own."""

    # True when create_orders places all the orders or none (one transaction). Only then may a
    # caller mark a whole batch submitted before sending it: otherwise a crash half-way would
    # leave unsent orders marked as sent, which are never re-sent.
    atomic_batches = False

    def trigger_orders(self, symbol: str) -> bool:
        """Can a protective stop-loss/take-profit rest on the exchange for `symbol` (a reduce-only
        order that fires at a trigger price)? Where it cannot, the runtime watches the price."""
        return False

    @abc.abstractmethod
    def markets(self) -> dict[str, Market]: ...

    @abc.abstractmethod
    def ticker(self, symbol: str) -> Ticker: ...

    @abc.abstractmethod
    def order_book(self, symbol: str, limit: int = 20) -> OrderBook: ...

    @abc.abstractmethod
    def ohlcv(self, symbol: str, timeframe: str, since: int | None = None, limit: int = 500) -> list[Candle]: ...

    @abc.abstractmethod
    def balances(self) -> dict[str, Balance]: ...

    @abc.abstractmethod
    def create_order(self, request: OrderRequest) -> ExchangeOrder: ...

    def create_orders(self, requests: list[OrderRequest]) -> list[ExchangeOrder | ExchangeError]:
        """Send several orders; each gets its own answer or error. Exchanges without a batch
        endpoint send them one after another."""
        answers: list[ExchangeOrder | ExchangeError] = []
        for request in requests:
            try:
                answers.append(self.create_order(request))
            except ExchangeError as exc:
                answers.append(exc)
        return answers

    @abc.abstractmethod
    def cancel_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder: ...

    @abc.abstractmethod
    def fetch_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> ExchangeOrder:
        """Raises OrderNotFoundError when the exchange does not (yet) know the order."""

    @abc.abstractmethod
    def open_orders(
        self, symbol: str | None = None, client_order_ids: Collection[str] | None = None
    ) -> list[ExchangeOrder]:
        """The account's open orders (of `symbol`). `client_order_ids` is a hint: a client that can
        leave out other orders cheaply does; callers must still pick theirs out."""

    @abc.abstractmethod
    def orders_since(self, symbol: str, since: int) -> list[ExchangeOrder]:
        """Every order of `symbol` created at or after `since` (ms), open or closed."""

    @abc.abstractmethod
    def my_trades(self, symbol: str, since: int | None = None, limit: int | None = None) -> list[ExchangeTrade]: ...

    # -- perpetuals (a spot-only client refuses them clearly) ---------------------------------------
    def set_leverage(self, symbol: str, *, leverage: Decimal, margin_mode: str) -> None:
        """Set the margin mode (isolated | cross) and leverage of a perpetual market for this
        account. Raises InvalidOrderError with the exchange's reason when it refuses a value."""
        raise InvalidOrderError(f"{type(self).__name__} does not trade perpetuals.")

    def positions(self, symbols: Collection[str] | None = None) -> list[PerpPosition]:
        """The account's open perpetual positions (of `symbols`)."""
        raise InvalidOrderError(f"{type(self).__name__} does not trade perpetuals.")

    def funding_payments(self, symbol: str, since: int | None = None) -> list[FundingEvent]:
        """Funding paid or received on `symbol` at or after `since` (ms), oldest first."""
        raise InvalidOrderError(f"{type(self).__name__} does not trade perpetuals.")

    def signing_check(self) -> None:  # noqa: B027 - optional hook
        """Prove the credentials can sign, where reading the balance does not (Hyperliquid serves
        any address's balance unsigned). Raises AuthError when they cannot."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default holds none."""


def to_decimal(value) -> Decimal | None:
    """Exchange libraries hand out floats and strings; money must be Decimal (via str: no binary noise)."""
    if value is None or value == "":
        return None
    return Decimal(str(value))
