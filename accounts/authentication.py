from __future__ import annotations

import functools

from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import Device, User
from .tokens import token_digest

_DEVICE_FIELDS = Device._meta.concrete_fields
_USER_FIELDS = User._meta.concrete_fields


@functools.cache
def _lookup_sql(vendor: str) -> str:
    """Device and its person in one statement, built from the models' own columns so it
    follows them. Every authenticated request runs it: through the ORM, compiling this
    query (a join, a filter, `.first()`'s ORDER BY) cost more CPU than executing it."""
    qn = connection.ops.quote_name
    cols = [f"d.{qn(f.column)}" for f in _DEVICE_FIELDS]
    cols += [f"u.{qn(f.column)}" for f in _USER_FIELDS]
    # Identifiers come from the models, quoted; the digest is a parameter.
    return (
        f"SELECT {', '.join(cols)} FROM {qn(Device._meta.db_table)} d"  # noqa: S608
        f" JOIN {qn(User._meta.db_table)} u"
        f" ON u.{qn(User._meta.pk.column)} = d.{qn(Device._meta.get_field('user').column)}"
        " WHERE d.token_digest = %s AND d.revoked_at IS NULL"
    )


def _converters(model, fields, conn) -> list[tuple[int, list]]:
    """The ORM's own value converters for these columns (SQLite hands back datetimes as
    text and booleans as integers; PostgreSQL needs none): what the ORM would apply."""
    out = []
    for i, field in enumerate(fields):
        col = field.get_col(model._meta.db_table)
        found = conn.ops.get_db_converters(col) + col.get_db_converters(conn)
        if found:
            out.append((i, found))
    return out


@functools.cache
def _row_converters(vendor: str) -> tuple[list, list]:
    # Per vendor, not per connection: the converters depend on the backend and settings
    # (USE_TZ, the time zone), which every connection of a process shares.
    conn = connection
    return (
        _converters(Device, _DEVICE_FIELDS, conn),
        _converters(User, _USER_FIELDS, conn),
    )


def _instance(model, fields, values: list, converters, conn):
    for i, found in converters:
        value = values[i]
        for convert in found:
            value = convert(value, fields[i].get_col(model._meta.db_table), conn)
        values[i] = value
    return model.from_db(conn.alias, [f.attname for f in fields], values)


def device_for_token(token: str) -> Device | None:
    """The live device this bearer token belongs to, with its person loaded; None for an
    unknown or revoked token, or a deactivated person."""
    if not token or len(token) > 200:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_lookup_sql(connection.vendor), [token_digest(token)])
        row = cursor.fetchone()
    if row is None:
        return None
    device_conv, user_conv = _row_converters(connection.vendor)
    split = len(_DEVICE_FIELDS)
    device = _instance(Device, _DEVICE_FIELDS, list(row[:split]), device_conv, connection)
    user = _instance(User, _USER_FIELDS, list(row[split:]), user_conv, connection)
    if not user.is_active:
        return None
    device.user = user
    return device


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`; request.auth is the Device."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            token = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Malformed token.")
        device = device_for_token(token)
        if device is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if (timezone.now() - device.last_used_at).total_seconds() > 300:
            device.touch_if_stale()
        return device.user, device

    def authenticate_header(self, request):
        return self.keyword
