"""Drop the single-column indexes of chat's memberships, user events, group invites, bans, join
requests, hidden messages and backups that a composite index or unique constraint already
leads with.

Each is one more index entry per row written: every wallet.updated or message event writes a
user event; the composite serves every lookup, foreign-key check and cascade by that column.
Only the indexes go: the foreign keys stay as they are (Django's AlterField would drop and
re-add them, re-checking every row under a lock), as in chat 0010 and store 0002.

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
    ("chat_chatbackup", "chat_chatbackup_user_id_ddb885d2", "user_id"),
    ("chat_groupban", "chat_groupban_conversation_id_c36673cf", "conversation_id"),
    ("chat_groupinvite", "chat_groupinvite_conversation_id_d6cca08a", "conversation_id"),
    ("chat_groupjoinrequest", "chat_groupjoinrequest_conversation_id_8e8eae61", "conversation_id"),
    ("chat_hiddenmessage", "chat_hiddenmessage_user_id_4f7bef87", "user_id"),
    ("chat_membership", "chat_membership_conversation_id_405b3a26", "conversation_id"),
    ("chat_membership", "chat_membership_user_id_b82c7bc9", "user_id"),
    ("chat_userevent", "chat_userevent_user_id_da00c869", "user_id"),
]
LIKE_INDEXES = [  # PostgreSQL only
    ("chat_conversation", "chat_conversation_direct_key_049b8f39_like", "direct_key"),
    ("chat_upload", "chat_upload_token_d5fe14d3_like", "token"),
    ("chat_groupinvite", "chat_groupinvite_token_digest_f00c42b2_like", "token_digest"),
    ("chat_chatbackup", "chat_chatbackup_token_d72a45a7_like", "token"),
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
        ("chat", "0010_drop_redundant_conversation_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="chatbackup",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="groupban",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="chat.conversation",
                    ),
                ),
                migrations.AlterField(
                    model_name="groupinvite",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="chat.conversation",
                    ),
                ),
                migrations.AlterField(
                    model_name="groupjoinrequest",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="chat.conversation",
                    ),
                ),
                migrations.AlterField(
                    model_name="hiddenmessage",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="membership",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="chat.conversation",
                    ),
                ),
                migrations.AlterField(
                    model_name="membership",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="chat_memberships",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="userevent",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
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
