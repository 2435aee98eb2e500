"""Model instances from hand-written SQL rows, converted as the ORM converts them.

The hot payment paths read with one hand-written statement (building the query with the
ORM cost more CPU than the round trip); this turns the selected columns back into model
instances, running each field's converters (SQLite returns datetimes as text, both
backends return JSON as text)."""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import Model


def columns(model: type[Model], alias: str) -> str:
    """`alias."col", …` for every concrete field of `model`, in `from_row` order."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


@functools.cache
def _converters(model: type[Model], vendor: str) -> tuple:
    # Per model and backend: looking them up for every row cost as much as converting.
    # The backend's are kept unbound: each thread has its own connection and operations.
    out = []
    for i, f in enumerate(model._meta.concrete_fields):
        col = f.get_col(model._meta.db_table)
        backend = tuple(c.__func__ for c in connection.ops.get_db_converters(col))
        field = tuple(col.get_db_converters(connection))
        if backend or field:
            out.append((i, col, backend, field))
    return tuple(out)


def from_row(model: type[Model], values) -> Model:
    """An instance of `model` from the values of `columns(model, …)`."""
    out = list(values)
    ops = connection.ops
    for i, col, backend, field in _converters(model, connection.vendor):
        for converter in backend:
            out[i] = converter(ops, out[i], col, connection)
        for converter in field:
            out[i] = converter(out[i], col, connection)
    return model.from_db(connection.alias, _attnames(model), out)


@functools.cache
def _attnames(model: type[Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]
