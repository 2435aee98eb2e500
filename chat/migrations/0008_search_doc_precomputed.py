"""The search document as one SQL function, and an insert trigger that only fills it in
when the writer did not (PostgreSQL).

`chat_message_search_doc` (the trigger) computed the document per row: the tokenizer,
the no-space grams (a regexp) and the word pairs (plpgsql), about 100 µs of CPU per
message — more than everything else a campaign delivery writes. A campaign batch sends
the same text to thousands of people, so chat/services/brand_fanout.py computes the
document once per template with `chat_search_doc(text)` and inserts it; the insert
trigger now fires only `WHEN (NEW.search_doc IS NULL)`, i.e. for every other writer,
which never sets the column (Django's model does not know it). Updates (edit, recall,
kind) still always recompute. Both paths call the same function, so a precomputed
document is exactly the one the trigger would have made.

`chat_conversation` gets `fillfactor = 80`: every message bumps its conversation's
counters (`last_seq`, `last_event_seq`, `last_message_at`, none indexed), and with room on
the page that update is HOT — no new entry in any of the table's indexes. A campaign
updates thousands of conversations per statement; a bulk-loaded table (pages 100% full)
made every one of those updates a non-HOT one. Existing pages get the room as they are
rewritten (VACUUM FULL / pg_repack in operations; new rows get it at once).
"""

from django.db import migrations

_DOC = "to_tsvector('simple'::regconfig, t)"

PG_FORWARD = [
    "ALTER TABLE chat_conversation SET (fillfactor = 80)",
    # The document of a message's text (kept in step with 0007's expression).
    f"""
    CREATE OR REPLACE FUNCTION chat_search_doc(t text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT {_DOC} || chat_no_space_grams(t) || chat_word_pairs({_DOC})
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION chat_message_search_doc() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.recalled_at IS NULL AND NEW.kind <> 'system' AND NEW.text <> '' THEN
            NEW.search_doc := chat_search_doc(NEW.text);
        ELSE
            NEW.search_doc := NULL;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    "DROP TRIGGER IF EXISTS chat_message_search_doc_trg ON chat_message",
    """
    CREATE TRIGGER chat_message_search_doc_ins
    BEFORE INSERT ON chat_message
    FOR EACH ROW WHEN (NEW.search_doc IS NULL) EXECUTE FUNCTION chat_message_search_doc()
    """,
    """
    CREATE TRIGGER chat_message_search_doc_upd
    BEFORE UPDATE OF text, kind, recalled_at ON chat_message
    FOR EACH ROW EXECUTE FUNCTION chat_message_search_doc()
    """,
]
PG_BACKWARD = [
    "ALTER TABLE chat_conversation RESET (fillfactor)",
    "DROP TRIGGER IF EXISTS chat_message_search_doc_upd ON chat_message",
    "DROP TRIGGER IF EXISTS chat_message_search_doc_ins ON chat_message",
    f"""
    CREATE OR REPLACE FUNCTION chat_message_search_doc() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.recalled_at IS NULL AND NEW.kind <> 'system' AND NEW.text <> '' THEN
            NEW.search_doc := {_DOC.replace("t)", "NEW.text)")}
                              || chat_no_space_grams(NEW.text)
                              || chat_word_pairs({_DOC.replace("t)", "NEW.text)")});
        ELSE
            NEW.search_doc := NULL;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER chat_message_search_doc_trg
    BEFORE INSERT OR UPDATE OF text, kind, recalled_at ON chat_message
    FOR EACH ROW EXECUTE FUNCTION chat_message_search_doc()
    """,
    "DROP FUNCTION IF EXISTS chat_search_doc(text)",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("chat", "0007_search_word_pairs")]

    operations = [migrations.RunPython(_run(PG_FORWARD), _run(PG_BACKWARD))]
