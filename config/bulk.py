"""Insert many rows in one statement, without building model instances on PostgreSQL.

    from config.bulk import insert_rows

    ids = insert_rows(Message, ["conversation_id", "seq", "kind", "text", "payload"], rows,
                      returning=["id", "conversation_id"])

On PostgreSQL this is one `INSERT … SELECT … FROM unnest(%s::type[], …) RETURNING …`:
one round trip whatever the row count, and no per-row Python objects — the difference
between a few thousand and tens of thousands of rows per second for bulk fan-out (brand
campaigns). Columns not named get their field's default, the same for every row.
Elsewhere (SQLite) it falls back to `bulk_create`. Use it inside the caller's
transaction; it does not validate rows — callers pass clean values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import connection, models

_PG_ARRAY_TYPES = {
    "AutoField": "integer",
    "BigAutoField": "bigint",
    "BigIntegerField": "bigint",
    "IntegerField": "integer",
    "PositiveIntegerField": "integer",
    "PositiveSmallIntegerField": "smallint",
    "PositiveBigIntegerField": "bigint",
    "SmallIntegerField": "smallint",
    "BooleanField": "boolean",
    "CharField": "text",
    "TextField": "text",
    "SlugField": "text",
    "URLField": "text",
    "EmailField": "text",
    "JSONField": "jsonb",
    "DateTimeField": "timestamptz",
    "DateField": "date",
}


def _field_type(field: models.Field) -> str:
    if isinstance(field, models.ForeignKey):
        return _field_type(field.target_field)
    kind = field.get_internal_type()
    if kind not in _PG_ARRAY_TYPES:
        raise TypeError(f"insert_rows does not know how to send {kind} ({field.name})")
    return _PG_ARRAY_TYPES[kind]


def _pg_value(field: models.Field, value):
    if isinstance(field, models.JSONField) and value is not None:
        return json.dumps(value, separators=(",", ":"))
    return value


_INT_ARRAYS = {"bigint", "integer", "smallint"}


def int_array(values: Sequence) -> str | list:
    """A list of ints as PostgreSQL's array literal (`'{1,2,3}'`, bound to `%s::bigint[]`):
    psycopg dumps a list element by element, with a quoting regex on each (~1 µs per
    element, most of a 5,000-person campaign batch's Python time); one join is ~10x
    cheaper. None is NULL; anything else (a non-int) gets the list itself back."""
    try:
        return "{" + ",".join(map(int.__repr__, values)) + "}"
    except TypeError:
        pass
    try:
        return "{" + ",".join("NULL" if v is None else int.__repr__(v) for v in values) + "}"
    except TypeError:
        return list(values)


def insert_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence],
    *,
    returning: Sequence[str] | None = None,
    constants: dict | None = None,
) -> list[tuple]:
    """Insert `rows` (tuples in `columns` order, by field attname) and return the
    `returning` attributes of each inserted row, in insertion order. `constants`
    ({attname: value}) are the same for every row: bound once, not once per row."""
    if not rows:
        return []
    constants = constants or {}
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_attname[c] for c in columns]
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(columns, row, strict=True)), **constants) for row in rows]
        model.objects.bulk_create(objs, batch_size=1000)
        return [tuple(getattr(o, a) for a in returning) for o in objs] if returning else []
    fixed = [by_attname[c] for c in constants]
    others = [
        f
        for f in model._meta.concrete_fields
        if f.attname not in columns and f.attname not in constants and not f.primary_key
    ]
    table = connection.ops.quote_name(model._meta.db_table)
    quote = connection.ops.quote_name
    target = [quote(f.column) for f in (*fields, *fixed, *others)]
    select = [f"u.c{i}" for i in range(len(fields))]
    select += [f"%s::{_field_type(f)}" for f in (*fixed, *others)]
    unnest = ", ".join(f"%s::{_field_type(f)}[]" for f in fields)
    names = ", ".join(f"c{i}" for i in range(len(fields)))
    sql = (
        f"INSERT INTO {table} ({', '.join(target)}) "  # noqa: S608 (identifiers quoted; values are params)
        f"SELECT {', '.join(select)} FROM unnest({unnest}) AS u({names})"
    )
    if returning:
        sql += " RETURNING " + ", ".join(quote(by_attname[a].column) for a in returning)
    arrays = [
        int_array([row[i] for row in rows])
        if _field_type(f) in _INT_ARRAYS
        else [_pg_value(f, row[i]) for row in rows]
        for i, f in enumerate(fields)
    ]
    defaults = [_pg_value(f, constants[f.attname]) for f in fixed]
    defaults += [
        f.get_db_prep_save(f.get_default(), connection)
        if not isinstance(f, models.JSONField)
        else _pg_value(f, f.get_default())
        for f in others
    ]
    return _execute_bound(sql, [*defaults, *arrays], fetch=bool(returning))


def _execute_bound(sql: str, params: list, *, fetch: bool) -> list[tuple]:
    """Run on this connection (same transaction) with SERVER-side parameter binding:
    Django's psycopg cursors bind client-side, which quotes every array element into the
    SQL text — seconds per batch for arrays of thousands."""
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cur:
        cur.execute(sql, params)
        return list(cur.fetchall()) if fetch else []


def execute_bound(sql: str, params: list, *, fetch: bool = True) -> list[tuple]:
    """Public form of the server-side-bound execute, for PostgreSQL-only bulk statements
    (e.g. `UPDATE … WHERE id = ANY(%s) RETURNING …`)."""
    return _execute_bound(sql, params, fetch=fetch)
