"""Drop the single-column indexes of the store's packs (status) and stickers (pack) that a
composite index or unique constraint already leads with.

Nothing here is hot; the indexes are dropped so the schema says one thing once; the
composite serves every lookup, foreign-key check and cascade by that column. Only the
indexes go: the foreign keys stay as they are (Django's AlterField would drop and re-add
them, re-checking every row under a lock), as in chat 0010 and store 0002.

On PostgreSQL a CharField with unique=True or db_index=True also gets a varchar_pattern_ops
index (name ending in _like) for case-sensitive LIKE 'prefix%' queries. Nothing queries
these columns by prefix (tokens, digests, keys and codes are found by equality, which the
plain or unique index serves), so those go too: one index fewer per row written. SQLite has
none. tests/config/test_schema_indexes.py keeps both kinds from coming back.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    ("store_pack", "store_pack_status_3c33feeb", "status"),
    ("store_sticker", "store_sticker_pack_id_2ad53427", "pack_id"),
]
LIKE_INDEXES = [  # PostgreSQL only
    ("store_pack", "store_pack_status_3c33feeb_like", "status"),
    ("store_pack", "store_pack_category_a4f2765b_like", "category"),
]


def _like_indexes(create: bool):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, index, column in LIKE_INDEXES:
            schema_editor.execute(
                f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{column}" varchar_pattern_ops)'
                if create
                else f'DROP INDEX IF EXISTS "{index}"'
            )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0003_checkout_function"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="pack",
                    name="status",
                    field=models.CharField(
                        choices=[
                            ("draft", "Draft"),
                            ("in_review", "In Review"),
                            ("published", "Published"),
                            ("rejected", "Rejected"),
                            ("withdrawn", "Withdrawn"),
                        ],
                        default="draft",
                        max_length=16,
                    ),
                ),
                migrations.AlterField(
                    model_name="sticker",
                    name="pack",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="stickers",
                        to="store.pack",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    f'CREATE INDEX "{index}" ON "{table}" ("{column}")',
                )
                for table, index, column in INDEXES
            ],
        ),
        migrations.RunPython(_like_indexes(create=False), _like_indexes(create=True)),
    ]
