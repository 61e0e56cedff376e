"""`manage.py load_candles FILE...`: upsert candle files into the store and report their gaps."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from exchanges.market_data import candle_gaps, candles_upsert, read_candle_file
from exchanges.models import Candle


class Command(BaseCommand):
    help = "Load OHLCV files named like BTC_USDT-5m.json[.gz] into the candle store (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--exchange", default="binance", help="Exchange the candles come from.")
        parser.add_argument(
            "--skip-loaded", action="store_true", help="Skip a file whose series already holds as many candles."
        )

    def handle(self, *args, files, exchange, skip_loaded=False, **options):
        for path in files:
            if not path.exists():
                raise CommandError(f"{path}: no such file.")
            try:
                symbol, timeframe, candles = read_candle_file(path)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            if skip_loaded and Candle.objects.filter(
                exchange=exchange, symbol=symbol, timeframe=timeframe
            ).count() >= len(candles):
                self.stdout.write(f"{exchange} {symbol} {timeframe}: already loaded")
                continue
            written = candles_upsert(exchange=exchange, symbol=symbol, timeframe=timeframe, candles=candles)
            gaps = candle_gaps(exchange=exchange, symbol=symbol, timeframe=timeframe)
            self.stdout.write(f"{exchange} {symbol} {timeframe}: {written} candles upserted, {len(gaps)} gap(s)")
            for gap in gaps:
                self.stdout.write(f"  gap: {gap.missing} candle(s) missing after {gap.after:%Y-%m-%d %H:%M} UTC")
