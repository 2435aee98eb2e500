"""The schema keeps no index that another one makes useless: every index is one more entry
to write per row inserted (and per update of an indexed column), and money moves insert
rows into several tables at once. Read off the migrated PostgreSQL test database, so a new
model or migration that brings one back fails here with the way out in the message."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.conftest import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db]

# Django's own tables: their migrations are not ours to change.
DJANGO_TABLES = (
    "auth_permission",
    "auth_group",
    "auth_group_permissions",
    "accounts_user_groups",
    "accounts_user_user_permissions",
    "django_session",
)

# A plain (non-unique, non-partial) b-tree index whose columns, with the same operator
# classes, lead another non-partial b-tree index on the same table.
COVERED = """
WITH idx AS (
    SELECT i.indrelid::regclass::text AS tbl, c.relname AS name, i.indisunique AS uniq,
           string_to_array(i.indkey::text, ' ') AS cols,
           string_to_array(i.indclass::text, ' ') AS ops,
           i.indpred IS NOT NULL OR i.indexprs IS NOT NULL AS special, am.amname
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_am am ON am.oid = c.relam
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema()
)
SELECT a.tbl, a.name, b.name
  FROM idx a JOIN idx b ON a.tbl = b.tbl AND a.name <> b.name
 WHERE NOT a.uniq AND NOT a.special AND NOT b.special
   AND a.amname = 'btree' AND b.amname = 'btree'
   AND cardinality(a.cols) <= cardinality(b.cols)
   AND b.cols[1:cardinality(a.cols)] = a.cols
   AND b.ops[1:cardinality(a.ops)] = a.ops
   AND (cardinality(a.cols) < cardinality(b.cols) OR b.uniq OR a.name > b.name)
   AND a.tbl <> ALL(%s)
 ORDER BY 1, 2
"""

# Django adds a varchar_pattern_ops index beside every indexed or unique CharField on
# PostgreSQL, for case-sensitive LIKE 'prefix%'. Plaza finds tokens, digests and keys by
# equality; its few prefix filters are on columns without one.
LIKE_INDEXES = """
SELECT i.indrelid::regclass::text, c.relname
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_opclass o ON o.oid = i.indclass[0]
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = current_schema()
   AND o.opcname IN ('varchar_pattern_ops', 'text_pattern_ops')
   AND i.indrelid::regclass::text <> ALL(%s)
 ORDER BY 1, 2
"""


def _rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(DJANGO_TABLES)])
        return cursor.fetchall()


def test_no_index_is_the_leading_part_of_another():
    covered = _rows(COVERED)
    assert covered == [], (
        "indexes another index already leads with (table, index, covered by); give the field "
        "db_index=False and drop the index as chat 0011 does: "
        f"{covered}"
    )


def test_no_like_index_that_no_query_uses():
    found = _rows(LIKE_INDEXES)
    assert found == [], (
        "varchar_pattern_ops indexes (table, index) that no query uses; drop them in a "
        "migration as payments 0010 does, or keep one here with the query that needs it: "
        f"{found}"
    )


def test_the_indexes_that_serve_the_dropped_ones_are_there():
    # The drops rely on these: a lookup, foreign-key check or cascade by the column.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid::regclass::text "
            "IN ('payments_posting', 'payments_transfer', 'payments_order', 'brands_follow')"
        )
        names = {row[0] for row in cursor.fetchall()}
    assert {
        "ledger_posting_account_id",
        "transfer_sender_day",
        "order_out_trade_no_unique_per_merchant",
        "follow_once",
    } <= names
