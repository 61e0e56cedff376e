"""List the registered strategies, or print one strategy's parameter JSON Schema."""

import json

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from strategies.registry import all_specs
from strategies.registry import get as get_strategy


class Command(BaseCommand):
    help = "List the registered strategies; with --schema KEY print that strategy's parameter JSON Schema."

    def add_arguments(self, parser):
        parser.add_argument("--schema", metavar="KEY", help="Print the JSON Schema of this strategy's parameters.")

    def handle(self, *args, schema=None, **options):
        if schema:
            try:
                spec = get_strategy(schema)
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
            self.stdout.write(json.dumps(spec.json_schema(), indent=2))
            return
        for spec in all_specs():
            names = ", ".join(p.name for p in spec.params)
            self.stdout.write(f"{spec.key:20} {spec.label} ({spec.timeframe}): {names}")
