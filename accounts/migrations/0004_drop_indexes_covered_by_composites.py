"""Drop the single-column indexes of accounts' friend graph, devices and login codes that a
composite index or unique constraint already leads with.

Each is one more index entry per row written (a friend request, a contact pair, a login
code, a device); the composite serves every lookup, foreign-key check and cascade by that
column. Only the indexes go: the foreign keys stay as they are (Django's AlterField would
drop and re-add them, re-checking every row under a lock), as in chat 0010 and store 0002.

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
    ("accounts_block", "accounts_block_blocked_id_6b1a5ff3", "blocked_id"),
    ("accounts_block", "accounts_block_blocker_id_1f66a617", "blocker_id"),
    ("accounts_contact", "accounts_contact_owner_id_15f553ee", "owner_id"),
    ("accounts_device", "accounts_device_user_id_f8e29eb4", "user_id"),
    ("accounts_discoverycheck", "accounts_discoverycheck_user_id_3ed3d348", "user_id"),
    ("accounts_friendrequest", "accounts_friendrequest_from_user_id_f74e1070", "from_user_id"),
    ("accounts_friendrequest", "accounts_friendrequest_to_user_id_cfa35a29", "to_user_id"),
    ("accounts_phoneotp", "accounts_phoneotp_phone_edf50850", "phone"),
]
LIKE_INDEXES = [  # PostgreSQL only
    ("accounts_phoneotp", "accounts_phoneotp_phone_edf50850_like", "phone"),
    ("accounts_user", "accounts_user_phone_c603acdd_like", "phone"),
    ("accounts_device", "accounts_device_token_digest_45902df1_like", "token_digest"),
    ("accounts_addmecode", "accounts_addmecode_code_digest_26c93835_like", "code_digest"),
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
        ("accounts", "0003_backfill_phone_hash"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="block",
                    name="blocked",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="block",
                    name="blocker",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="contact",
                    name="owner",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="contact_rows",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="device",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="devices",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="discoverycheck",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="friendrequest",
                    name="from_user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="friendrequest",
                    name="to_user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="phoneotp",
                    name="phone",
                    field=models.CharField(max_length=20),
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
