"""Database helpers for hot paths the ORM makes expensive."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, connections, models

# Field types whose Python values psycopg writes correctly without the field's conversion.
PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BigIntegerField,
    models.BooleanField,
    models.DateTimeField,
    models.DecimalField,
    models.FloatField,
)


def update_rows(model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write `fields` of each row, by primary key, in one statement on PostgreSQL: one array per
    column, unnested side by side (`UPDATE ... FROM unnest(...)`). That is a handful of
    parameters whatever the row count, where one placeholder per value costs more to build and
    parse than the update takes to run, and bulk_update's CASE per column more still.
    Elsewhere: one UPDATE per row."""
    if not rows:
        return
    if connection.vendor != "postgresql" or len(rows) == 1:
        for row in rows:
            model._default_manager.filter(pk=row.pk).update(**{f: getattr(row, f) for f in fields})
        return
    meta = model._meta
    qn = connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    pk = meta.pk
    arrays = [[pk.get_db_prep_save(row.pk, connection) for row in rows]]
    arrays += [[c.get_db_prep_save(getattr(row, c.attname), connection) for row in rows] for c in columns]
    casts = ", ".join(f"%s::{c.db_type(connection)}[]" for c in [pk, *columns])
    names = ", ".join(qn(c.column) for c in [pk, *columns])
    assignments = ", ".join(f"{qn(c.column)} = v.{qn(c.column)}" for c in columns)
    sql = (
        f"UPDATE {qn(meta.db_table)} AS t SET {assignments} "
        f"FROM unnest({casts}) AS v({names}) "
        f"WHERE t.{qn(pk.column)} = v.{qn(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


def _plain(field: models.Field) -> bool:
    """True when the field converts nothing on the way to the database: a foreign key, or one of
    PLAIN_FIELDS whose conversion methods are not overridden (an encrypted text field is a
    TextField that encrypts in get_db_prep_save: never plain)."""
    if field.is_relation:
        return True
    for base in PLAIN_FIELDS:
        if isinstance(field, base):
            cls = type(field)
            methods = ("get_prep_value", "get_db_prep_value", "get_db_prep_save", "pre_save")
            return all(getattr(cls, m) is getattr(base, m) for m in methods)
    return False


def insert_rows(model: type[models.Model], rows: Sequence[models.Model]) -> None:
    """Insert new rows and give them their primary keys, like bulk_create. On PostgreSQL a few rows
    go in one `INSERT ... RETURNING` (one round trip: bulk_create adds a BEGIN and a COMMIT
    around it outside a transaction); many rows get ids drawn from the table's sequence in one
    statement and are sent with COPY, which skips building a parameterised INSERT (the costly
    part for thousands of rows). A unique violation raises IntegrityError and inserts nothing,
    as bulk_create does."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(rows)
        return
    meta = model._meta
    qn = connection.ops.quote_name
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if f is not pk]
    now = None
    for field in fields:  # auto_now / auto_now_add, as save() would set them
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            from django.utils import timezone

            now = now or timezone.now()
            for row in rows:
                if getattr(row, field.attname) is None or field.auto_now:
                    setattr(row, field.attname, now)
    if len(rows) < 50:
        _insert_returning(model, rows, fields)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, pk.column, len(rows)],
        )
        ids = [r[0] for r in cursor.fetchall()]
        columns = ", ".join(qn(c.column) for c in [pk, *fields])
        sql = f"COPY {qn(meta.db_table)} ({columns}) FROM STDIN"
        conn = connections[connection.alias]  # the object itself, not the per-thread proxy
        # Values the driver adapts as they are go straight through; the rest (JSON, custom
        # fields) take the field's own conversion.
        plain = [_plain(f) for f in fields]
        attnames = [f.attname for f in fields]
        with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
            for row, row_id in zip(rows, ids, strict=True):
                values = [row_id]
                for field, attname, as_is in zip(fields, attnames, plain, strict=True):
                    value = getattr(row, attname)
                    values.append(value if as_is or value is None else field.get_db_prep_save(value, conn))
                copy.write_row(values)
    for row, row_id in zip(rows, ids, strict=True):
        row.pk = row_id
        row._state.adding = False
        row._state.db = connection.alias


def _insert_returning(model: type[models.Model], rows: Sequence[models.Model], fields: list) -> None:
    """One multi-row INSERT that returns the new ids (a single statement is atomic by itself)."""
    qn = connection.ops.quote_name
    meta = model._meta
    conn = connections[connection.alias]
    plain = [_plain(f) for f in fields]
    params: list = []
    for row in rows:
        for field, as_is in zip(fields, plain, strict=True):
            value = getattr(row, field.attname)
            params.append(value if as_is or value is None else field.get_db_prep_save(value, conn))
    marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)})"
        f" VALUES {', '.join([marks] * len(rows))} RETURNING {qn(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [r[0] for r in cursor.fetchall()]
    for row, row_id in zip(rows, ids, strict=True):
        row.pk = row_id
        row._state.adding = False
        row._state.db = connection.alias
