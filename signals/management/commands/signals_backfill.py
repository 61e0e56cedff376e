"""`manage.py signals_backfill`: compute a factor-engine source's signals over stored history."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from signals.backfill import signals_backfill
from signals.models import WatchedMarket


class Command(BaseCommand):
    help = "Record the engine's signal at each past closed candle of watched markets (skips bars already done)."

    def add_arguments(self, parser):
        parser.add_argument("--market", type=int, action="append", help="Watched market id (default: all enabled).")
        parser.add_argument("--organization", help="Only this organization's markets (slug).")
        parser.add_argument("--bars", type=int, default=500, help="How many past candles (default 500).")

    def handle(self, *args, market=None, organization=None, bars=500, **options):
        markets = WatchedMarket.objects.filter(enabled=True, source__enabled=True, source__kind="engine")
        if market:
            markets = markets.filter(pk__in=market)
        if organization:
            markets = markets.filter(organization__slug=organization)
        markets = list(markets.select_related("source"))
        if not markets:
            raise CommandError("No enabled factor-engine watched market matches.")
        for wm in markets:

            def progress(done: int, total: int, wm=wm) -> None:
                self.stdout.write(f"  {wm}: {done}/{total} candles", ending="\r")

            try:
                result = signals_backfill(watched_market=wm, bars=bars, progress=progress)
            except ApplicationError as e:
                raise CommandError(f"{wm}: {e.message}") from None
            self.stdout.write(
                f"{wm}: {result.recorded} recorded, {result.skipped} already there ({result.evaluated} evaluated)."
            )
