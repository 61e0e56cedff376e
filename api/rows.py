"""List pages without compiling their whole SQL on every request.

A list page is the serializer's row template (`FastRepresentationMixin.row_template`, a `.values()`
queryset of two dozen columns and text expressions) narrowed by the caller's organizations, the
filters and the cursor, then sliced. From one request to the next only the WHERE clause, the
ordering and the slice change, yet Django compiles the whole statement each time, which costs a
page more than the database takes to run it. `PageRowsIterable` compiles the WHERE clause alone and
finds the rest of the statement, as Django wrote it the first time, in a per-process table.

The statement is then the same text on every request, so on PostgreSQL it can run as a prepared
statement (settings: DATABASES OPTIONS `prepare_threshold`), which saves the server parsing and
analysing it again. Only these page queries are prepared: Django's own cursors bind parameters on
the client, and psycopg never prepares those.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.db.models.query import ValuesIterable
from django.db.models.sql import Query

# Distinct statements kept per template and process (filters, page sizes and cursor offsets make
# new ones); the table starts over when full.
MAX_STATEMENTS = 256


class Statement(NamedTuple):
    sql: str
    names: tuple[str, ...]
    converters: tuple[tuple[int, tuple[list, Any]], ...]


def _shape(query: Query) -> tuple:
    """What decides a query's SQL besides its WHERE clause, ordering and slice. Clones of the
    template share its select list and annotations, so the comparison is mostly by identity.
    The tables are those in use: the alias map also keeps unused joins (refcount 0), which a
    filter across a relation takes up again without adding an alias."""
    return (
        query.model,
        tuple(
            (alias, type(query.alias_map[alias]), getattr(query.alias_map[alias], "join_type", None))
            for alias, count in query.alias_refcount.items()
            if count
        ),
        query.select,
        query.values_select,
        query.selected,
        query.default_cols,
        query.annotations,
        query.annotation_select_mask,
        query.extra,
        query.extra_select_mask,
        query.extra_tables,
        query.extra_order_by,
        query.distinct,
        query.distinct_fields,
        query.group_by,
        query.combinator,
        query.select_for_update,
        query.explain_info,
        query.subquery,
    )


def _server_binding_cursor(connection: BaseDatabaseWrapper):
    """A cursor that sends the parameters apart from the SQL, so psycopg prepares a statement once
    it has run `prepare_threshold` times on the connection; Django's own cursor when preparing is
    off (Django's default, and config/settings/base.py's behind a transaction-mode pooler)."""
    if connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor  # psycopg 3 only

    # What connection.cursor() does, with this cursor class (the psycopg connection is this
    # thread's own): Django still sets the cursor up, and its wrapper still logs, counts
    # (assertNumQueries) and translates errors.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = connection.connection
    factory = raw.cursor_factory
    raw.cursor_factory = ServerBindingCursor
    try:
        with connection.wrap_database_errors:
            cursor = connection.create_cursor()
    finally:
        raw.cursor_factory = factory
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


class PageRowsIterable(ValuesIterable):
    """The rows of a row template's queryset: the dicts ValuesIterable yields, from a statement
    compiled once per WHERE clause, ordering and slice. Anything that would change the rest of
    the statement (a join, another annotation, distinct...), a WHERE clause that is always false or
    always true, and chunked reads go through Django as usual."""

    shape: tuple
    statements: dict[tuple, Statement]

    @classmethod
    def for_template(cls, queryset: QuerySet) -> type[PageRowsIterable]:
        """The iterable class of one template (it holds the template's statements)."""
        name = f"{queryset.model.__name__}PageRowsIterable"
        return type(name, (cls,), {"shape": _shape(queryset.query), "statements": {}})

    def __iter__(self) -> Iterator[dict[str, Any]]:
        queryset = self.queryset
        query = queryset.query
        where = query.where
        if self.chunked_fetch or where.contains_aggregate or where.contains_over_clause or _shape(query) != self.shape:
            return super().__iter__()
        db = queryset.db
        try:
            where_sql, params = query.get_compiler(db).compile(where)
        except (EmptyResultSet, FullResultSet):
            return super().__iter__()
        ordering = (query.order_by, query.default_ordering, query.standard_ordering)
        key = (db, where_sql, ordering, query.low_mark, query.high_mark)
        statement = self.statements.get(key)
        if statement is None:
            statement = self._statement(query, db, params)
            if statement is None:
                return super().__iter__()
            if len(self.statements) >= MAX_STATEMENTS:
                self.statements.clear()
            self.statements[key] = statement
        connection = connections[db]
        with _server_binding_cursor(connection) as cursor:
            cursor.execute(statement.sql, params)
            rows = cursor.fetchall()
        names = statement.names  # as many as the row has columns (checked in _statement)
        if statement.converters:
            rows = [self._convert(list(row), statement.converters, connection) for row in rows]
        return iter([dict(zip(names, row, strict=False)) for row in rows])

    @staticmethod
    def _convert(values: list, converters: tuple, connection: BaseDatabaseWrapper) -> list:
        """What SQLCompiler.apply_converters does to one row (a JSON column's text into data...)."""
        for position, (functions, expression) in converters:
            value = values[position]
            for convert in functions:
                value = convert(value, expression, connection)
            values[position] = value
        return values

    @staticmethod
    def _statement(query: Query, db: str, where_params: tuple) -> Statement | None:
        """Django's whole statement for this query, with the names and converters ValuesIterable
        would use; None when a parameter lies outside the WHERE clause or the row has more
        columns than the dict (an ordering that is not selected)."""
        compiler = query.get_compiler(db)
        sql, params = compiler.as_sql()
        if tuple(params) != tuple(where_params) or compiler.has_extra_select:
            return None
        fields = [column[0] for column in compiler.select[0 : compiler.col_count]]
        if compiler.has_composite_fields(fields):
            return None
        if query.selected:
            names = tuple(query.selected)
        else:
            names = (*query.extra_select, *query.values_select, *query.annotation_select)
        if len(names) != compiler.col_count:
            return None
        return Statement(sql, names, tuple(compiler.get_converters(fields).items()))
