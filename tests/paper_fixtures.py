"""Paper-exchange fixtures over the bundled real candles."""

from decimal import Decimal
from pathlib import Path

import pytest

from exchanges.market_data import FixedClock, ReplaySource, read_candle_file
from exchanges.paper import PaperExchange, paper_balance_set
from tests.factories import ExchangeAccountFactory

DATA = Path(__file__).resolve().parents[1] / "data" / "market"


@pytest.fixture(scope="session")
def btc_candles():
    return read_candle_file(DATA / "BTC_USDT-5m.json.gz")[2]


@pytest.fixture
def source(btc_candles):
    src = ReplaySource(exchange="binance", timeframe="5m")
    src.load("BTC/USDT", btc_candles)
    return src


@pytest.fixture
def clock(btc_candles):
    # Ten hours into the data, mid-candle.
    return FixedClock(btc_candles[120].ts + 60_000)


@pytest.fixture
def paper(db, source, clock):
    account = ExchangeAccountFactory(exchange="paper", paper_slippage=Decimal("0.001"))
    paper_balance_set(account=account, asset="USDT", free=Decimal("100000"))
    paper_balance_set(account=account, asset="BTC", free=Decimal("1"))
    return PaperExchange(account, source=source, clock=clock)
