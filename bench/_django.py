"""Shared set-up for benchmarks: Django on a dedicated PostgreSQL database, migrated.

Each run starts from a new, empty database (BENCH_DB, `backoffice_bench`; it is dropped and made
again, so point it at nothing else). Otherwise the figures depend on what earlier runs left:
PostgreSQL on a development machine may run without autovacuum, and there the dead rows of a day
of runs (bots updated on every tick, 500,000 orders seeded and deleted per API run) took the tick
bench from 296 to 152 ticks/s. Migrating the empty database takes a few seconds.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DB", "backoffice_bench")
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def setup(*, fresh: bool = True) -> None:
    """Django on BENCH_DB, migrated; `fresh=False` keeps what an earlier run left there."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if fresh:
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
            except psycopg.errors.ObjectInUse:
                raise SystemExit(
                    f"The bench database {BENCH_DB} is in use (another bench running, or a server one "
                    "left behind): stop it, or set BENCH_DB to another name."
                ) from None
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
