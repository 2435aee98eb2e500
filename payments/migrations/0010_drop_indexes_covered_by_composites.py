"""Drop the single-column indexes of the ledger's postings, transfers, merchant orders,
refunds, API keys, red-packet shares and idempotency records that a composite index or
unique constraint already leads with.

Each is one more index entry per row written, and postings, transfers, orders and
idempotency records are written by every payment; the composite serves every lookup,
foreign-key check and cascade by that column. Only the indexes go: the foreign keys stay as
they are (Django's AlterField would drop and re-add them, re-checking every row under a
lock), as in chat 0010 and store 0002.

On PostgreSQL a CharField with unique=True or db_index=True also gets a varchar_pattern_ops
index (name ending in _like) for case-sensitive LIKE 'prefix%' queries. Nothing queries
these columns by prefix (tokens, digests, keys and codes are found by equality, which the
plain or unique index serves), so those go too: one index fewer per row written. SQLite has
none. tests/config/test_schema_indexes.py keeps both kinds from coming back.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEXES = [
    ("payments_idempotencyrecord", "payments_idempotencyrecord_user_id_7c64f28e", "user_id"),
    ("payments_merchantapikey", "payments_merchantapikey_merchant_id_e88ac8cf", "merchant_id"),
    ("payments_order", "payments_order_merchant_id_64f05d05", "merchant_id"),
    ("payments_posting", "payments_posting_account_id_a388d136", "account_id"),
    ("payments_redpacketshare", "payments_redpacketshare_packet_id_4c2fde8a", "packet_id"),
    ("payments_refund", "payments_refund_merchant_id_b2d4a1c8", "merchant_id"),
    ("payments_transfer", "payments_transfer_sender_id_fad26dbe", "sender_id"),
]
LIKE_INDEXES = [  # PostgreSQL only
    (
        "payments_journalentry",
        "payments_journalentry_idempotency_key_e791de57_like",
        "idempotency_key",
    ),
    ("payments_hold", "payments_hold_idempotency_key_49773ee8_like", "idempotency_key"),
    ("payments_order", "payments_order_token_d31e846a_like", "token"),
    ("payments_merchant", "payments_merchant_till_token_177769d8_like", "till_token"),
    ("payments_paycode", "payments_paycode_code_digest_7a8ede73_like", "code_digest"),
    ("payments_merchantapikey", "payments_merchantapikey_key_id_f73e1788_like", "key_id"),
    ("payments_stripeevent", "payments_stripeevent_event_id_4960b114_like", "event_id"),
    ("payments_topup", "payments_topup_provider_id_54c4d954_like", "provider_id"),
    ("payments_topup", "payments_topup_request_key_b842d2cb_like", "request_key"),
    ("payments_redpacket", "payments_redpacket_context_ref_ae06314e_like", "context_ref"),
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
        ("payments", "0009_transfer_functions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="merchantapikey",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_keys",
                        to="payments.merchant",
                    ),
                ),
                migrations.AlterField(
                    model_name="order",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="orders",
                        to="payments.merchant",
                    ),
                ),
                migrations.AlterField(
                    model_name="posting",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="postings",
                        to="payments.account",
                    ),
                ),
                migrations.AlterField(
                    model_name="redpacketshare",
                    name="packet",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="shares",
                        to="payments.redpacket",
                    ),
                ),
                migrations.AlterField(
                    model_name="refund",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="payments.merchant",
                    ),
                ),
                migrations.AlterField(
                    model_name="transfer",
                    name="sender",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="transfers_sent",
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
        ),
        migrations.RunPython(_like_indexes(create=False), _like_indexes(create=True)),
    ]
