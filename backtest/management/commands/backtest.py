"""`manage.py backtest`: run a strategy over stored candles (or a candle file) in this process and
print its statistics, or the ranked table of a parameter sweep."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backtest.data import bars_from_file, bars_from_store
from backtest.services import RANKABLE, backtest_compute, backtest_validate, sweep_params
from core.errors import ApplicationError
from strategies.registry import get as get_strategy

FAR_PAST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CommandError(f"{option} takes name=value, got {item!r}.")
        out[name.strip()] = value.strip()
    return out


def _date(value: str | None, default: dt.datetime) -> dt.datetime:
    if not value:
        return default
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date like 2021-05-01 or 2021-05-01T12:00.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = "Backtest a strategy over stored candles and print its statistics (or a sweep's ranking)."

    def add_arguments(self, parser):
        parser.add_argument("--strategy", required=True, help="Registry key, e.g. macd_trend.")
        parser.add_argument("--symbol", required=True, help="Market symbol, e.g. BTC/USDT.")
        parser.add_argument("--timeframe", default="5m")
        parser.add_argument("--exchange", default=settings.PAPER_DATA_EXCHANGE, help="Exchange of the stored candles.")
        parser.add_argument("--param", action="append", default=[], help="name=value, repeatable.")
        parser.add_argument("--sweep", action="append", default=[], help="name=v1,v2,v3, repeatable: a grid.")
        parser.add_argument("--rank-by", default="total_return_pct", choices=RANKABLE)
        parser.add_argument("--start", help="First candle (UTC), ISO date; default the first stored.")
        parser.add_argument("--end", help="End (UTC, exclusive), ISO date; default after the last stored.")
        parser.add_argument("--capital", default="1000", help="Quote currency at the start.")
        parser.add_argument("--file", type=Path, help="Read candles from this file instead of the store.")
        parser.add_argument("--trades", action="store_true", help="Also print every trade.")
        parser.add_argument("--json", action="store_true", help="Print the results as JSON.")

    def handle(self, *args, **o):
        try:
            capital = Decimal(o["capital"])
        except InvalidOperation:
            raise CommandError(f"--capital must be a number, got {o['capital']!r}.") from None
        sweep = {k: [x for x in v.split(",") if x != ""] for k, v in _pairs(o["sweep"], "--sweep").items()}
        try:
            run = backtest_validate(
                strategy=o["strategy"], params=_pairs(o["param"], "--param"), sweep=sweep, rank_by=o["rank_by"]
            )
            spec = get_strategy(run.strategy)
            if o["file"]:
                bars, start_index = bars_from_file(o["file"]), 0
            else:
                warmup = max(spec.warmup_bars(p) for p in sweep_params(run))
                bars, start_index = bars_from_store(
                    exchange=o["exchange"],
                    symbol=o["symbol"],
                    timeframe=o["timeframe"],
                    start=_date(o["start"], FAR_PAST),
                    end=_date(o["end"], FAR_FUTURE),
                    warmup=warmup,
                )
            if len(bars) <= start_index:
                raise CommandError(
                    f"No {o['timeframe']} candles of {o['symbol']} on {o['exchange']} in that period: "
                    "load them with `manage.py load_candles`, or pass --file."
                )
            results = backtest_compute(
                run=run,
                bars=bars,
                start_index=start_index,
                symbol=o["symbol"],
                timeframe=o["timeframe"],
                capital=capital,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if o["json"]:
            self.stdout.write(json.dumps(results))
            return
        self._print(results, run, o)

    def _print(self, results: dict, run, o) -> None:
        stats = results["stats"]
        self.stdout.write(f"{run.strategy} {o['symbol']} {o['timeframe']}: {stats['bars']} candles")
        self.stdout.write("params: " + ", ".join(f"{k}={v}" for k, v in results["params"].items()))
        width = max(len(k) for k in stats)
        for key, value in stats.items():
            self.stdout.write(f"  {key.ljust(width)}  {value}")
        if o["trades"]:
            self.stdout.write("trades:")
            for t in results["trades"]:
                self.stdout.write(
                    f"  {t['entry_ms']} {t['entry_price']} -> {t['exit_ms']} {t['exit_price']}"
                    f"  amount {t['amount']}  pnl {t['pnl']}"
                )
        if "sweep" in results:
            names = list(run.grid)
            self.stdout.write(f"sweep, ranked by {run.rank_by}:")
            header = ["rank", *names, "return %", "sharpe", "max dd %", "trades", "win %"]
            self.stdout.write("  " + "  ".join(h.rjust(10) for h in header))
            for row in results["sweep"]:
                s = row["stats"]
                cells = [
                    row["rank"],
                    *(row["params"][n] for n in names),
                    s["total_return_pct"],
                    s["sharpe"],
                    s["max_drawdown_pct"],
                    s["trades"],
                    s["win_rate_pct"],
                ]
                self.stdout.write("  " + "  ".join(str(c).rjust(10) for c in cells))
