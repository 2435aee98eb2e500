"""Drop the conversation_id indexes of chat_message and chat_chatevent.

Each duplicates the leading column of a unique index — (conversation_id, seq) and
(conversation_id, event_seq) — which serves every lookup and cascade by conversation, and
every index is one more insert per message sent (a message writes one row in each table).
Only the indexes go: the foreign keys stay as they are (Django's AlterField would drop and
re-add them, re-checking every row of both tables under a lock).
"""

from django.db import migrations, models

import django.db.models.deletion

INDEXES = [
    ("chat_message", "chat_message_conversation_id_a1207bf4"),
    ("chat_chatevent", "chat_chatevent_conversation_id_20cf2277"),
]


class Migration(migrations.Migration):
    dependencies = [("chat", "0009_send_batch_functions")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="chatevent",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="chat.conversation",
                    ),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="chat.conversation",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    f'CREATE INDEX "{index}" ON "{table}" ("conversation_id")',
                )
                for table, index in INDEXES
            ],
        )
    ]
