"""The message search index, one per database shape (see chat/selectors_search.py).

PostgreSQL: a `search_doc` tsvector column kept by a trigger (not a generated column, so
chat's own migrations may still alter `text`/`kind`), a multi-column GIN index on
(conversation_id, search_doc) via btree_gin, so a search intersects "in this
conversation" with "has these words" inside the index, and a pg_trgm GIN index on `text`
for scripts written without spaces (Chinese, Japanese), where words cannot be split.

SQLite: an FTS5 table with the trigram tokenizer, kept in sync by triggers.

Recalled and system messages are never indexed (the triggers leave them out), so they
cannot match. Django's model does not know about any of this; only raw SQL reads it.
"""

from django.db import migrations

PG_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    "ALTER TABLE chat_message ADD COLUMN IF NOT EXISTS search_doc tsvector",
    """
    CREATE OR REPLACE FUNCTION chat_message_search_doc() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.recalled_at IS NULL AND NEW.kind <> 'system' AND NEW.text <> '' THEN
            NEW.search_doc := to_tsvector('simple'::regconfig, NEW.text);
        ELSE
            NEW.search_doc := NULL;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    "DROP TRIGGER IF EXISTS chat_message_search_doc_trg ON chat_message",
    """
    CREATE TRIGGER chat_message_search_doc_trg
    BEFORE INSERT OR UPDATE OF text, kind, recalled_at ON chat_message
    FOR EACH ROW EXECUTE FUNCTION chat_message_search_doc()
    """,
    """
    UPDATE chat_message SET search_doc = to_tsvector('simple'::regconfig, text)
    WHERE recalled_at IS NULL AND kind <> 'system' AND text <> ''
    """,
    """
    CREATE INDEX IF NOT EXISTS chat_message_search_gin ON chat_message
    USING gin (conversation_id, search_doc) WHERE search_doc IS NOT NULL
    """,
    """
    CREATE INDEX IF NOT EXISTS chat_message_text_trgm ON chat_message
    USING gin (text gin_trgm_ops) WHERE recalled_at IS NULL AND kind <> 'system'
    """,
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS chat_message_text_trgm",
    "DROP INDEX IF EXISTS chat_message_search_gin",
    "DROP TRIGGER IF EXISTS chat_message_search_doc_trg ON chat_message",
    "DROP FUNCTION IF EXISTS chat_message_search_doc()",
    "ALTER TABLE chat_message DROP COLUMN IF EXISTS search_doc",
]

_INDEXABLE = "{r}.recalled_at IS NULL AND {r}.kind <> 'system' AND {r}.text <> ''"
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS chat_message_fts USING fts5(text, tokenize='trigram')",
    f"""
    CREATE TRIGGER IF NOT EXISTS chat_message_fts_ai AFTER INSERT ON chat_message
    WHEN {_INDEXABLE.format(r="new")}
    BEGIN
        INSERT INTO chat_message_fts(rowid, text) VALUES (new.id, new.text);
    END
    """,  # noqa: S608 (constant SQL fragments; values are parameters)
    """
    CREATE TRIGGER IF NOT EXISTS chat_message_fts_ad AFTER DELETE ON chat_message
    BEGIN
        DELETE FROM chat_message_fts WHERE rowid = old.id;
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS chat_message_fts_au
    AFTER UPDATE OF text, kind, recalled_at ON chat_message
    BEGIN
        DELETE FROM chat_message_fts WHERE rowid = old.id;
        INSERT INTO chat_message_fts(rowid, text)
        SELECT new.id, new.text WHERE {_INDEXABLE.format(r="new")};
    END
    """,  # noqa: S608 (constant SQL fragments; values are parameters)
    f"""
    INSERT INTO chat_message_fts(rowid, text)
    SELECT m.id, m.text FROM chat_message m WHERE {_INDEXABLE.format(r="m")}
    """,  # noqa: S608 (constant SQL fragments; values are parameters)
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS chat_message_fts_au",
    "DROP TRIGGER IF EXISTS chat_message_fts_ad",
    "DROP TRIGGER IF EXISTS chat_message_fts_ai",
    "DROP TABLE IF EXISTS chat_message_fts",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("chat", "0003_user_event_stream")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
