"""Drop the single-column indexes of brands' follows, members, tags, offer claims, sale orders
and audit events that a composite index or unique constraint already leads with.

Each is one more index entry per row written: a follow, a claim, a sale order (and the full-
size bench loads a million follows); the composite serves every lookup, foreign-key check
and cascade by that column. Only the indexes go: the foreign keys stay as they are (Django's
AlterField would drop and re-add them, re-checking every row under a lock), as in chat 0010
and store 0002.

On PostgreSQL a CharField with unique=True or db_index=True also gets a varchar_pattern_ops
index (name ending in _like) for case-sensitive LIKE 'prefix%' queries. Nothing queries
these columns by prefix (tokens, digests, keys and codes are found by equality, which the
plain or unique index serves), so those go too: one index fewer per row written. SQLite has
none. tests/config/test_schema_indexes.py keeps both kinds from coming back.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    ("brands_auditevent", "brands_auditevent_brand_id_cf6305d4", "brand_id"),
    ("brands_brandblock", "brands_brandblock_brand_id_9163bbf6", "brand_id"),
    ("brands_brandmember", "brands_brandmember_brand_id_35ecd97c", "brand_id"),
    ("brands_follow", "brands_follow_brand_id_d314a1fa", "brand_id"),
    ("brands_offerclaim", "brands_offerclaim_brand_id_4c30ae3f", "brand_id"),
    ("brands_offerclaim", "brands_offerclaim_campaign_id_c7afc7ae", "campaign_id"),
    ("brands_offerclaim", "brands_offerclaim_offer_id_d7939898", "offer_id"),
    ("brands_persontag", "brands_persontag_brand_id_4139d7ac", "brand_id"),
    ("brands_saleorder", "brands_saleorder_sale_id_71778b7e", "sale_id"),
]
LIKE_INDEXES = [  # PostgreSQL only
    ("brands_teaminvite", "brands_teaminvite_token_digest_ae414eda_like", "token_digest"),
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
        ("brands", "0004_delivery_fewer_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="follow",
            name="brands_foll_user_id_31cc3c_idx",
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="brand",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="brandblock",
                    name="brand",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="brandmember",
                    name="brand",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="members",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="follow",
                    name="brand",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="follows",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="offerclaim",
                    name="brand",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="offerclaim",
                    name="campaign",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="claims",
                        to="brands.campaign",
                    ),
                ),
                migrations.AlterField(
                    model_name="offerclaim",
                    name="offer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="claims",
                        to="brands.offer",
                    ),
                ),
                migrations.AlterField(
                    model_name="persontag",
                    name="brand",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="brands.brand",
                    ),
                ),
                migrations.AlterField(
                    model_name="saleorder",
                    name="sale",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="orders",
                        to="brands.exclusivesale",
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
