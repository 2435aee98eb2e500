"""Drop the user indexes of store_purchase (buyer) and store_entitlement (user).

Each duplicates the leading column of a composite index — purchase_buyer_recent (buyer,
-created_at); entitlement_once_per_pack (user, pack) and entitlement_user_order (user,
position) — which serves every lookup and foreign-key check by person, and each index is
one more insert per purchase. Only the indexes go: the foreign keys stay as they are
(Django's AlterField would drop and re-add them, re-checking every row under a lock).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEXES = [
    ("store_purchase", "store_purchase_buyer_id_199e9296", "buyer_id"),
    ("store_entitlement", "store_entitlement_user_id_a1bd490d", "user_id"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0001_store_catalogue_and_entitlements"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="entitlement",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sticker_entitlements",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="purchase",
                    name="buyer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sticker_purchases",
                        to=settings.AUTH_USER_MODEL,
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
        )
    ]
