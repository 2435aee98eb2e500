"""CJK bigrams in the search document (PostgreSQL).

Chinese and Japanese are written without spaces, so the tokenizer makes a whole run of
characters one lexeme and a two-character word inside it cannot be found through the
GIN index; pg_trgm cannot help either (a two-character query has no trigram). Adding
every character and every pair of neighbouring characters of such runs as extra lexemes
lets `开会` or `预算` use the (conversation_id, search_doc) index like any word; the
selector rechecks the exact substring. SQLite keeps FTS5 trigram + LIKE.
"""

from django.db import migrations

# Scripts written without spaces (BMP ranges): Thai, Lao, Myanmar, Khmer, kana, CJK
# ideographs, Hangul syllables. Kept in step with chat.selectors_search._NO_SPACE_SCRIPTS.
RUNS = r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+"

PG_FORWARD = [
    f"""
    CREATE OR REPLACE FUNCTION chat_no_space_grams(t text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(array_to_tsvector(array_agg(DISTINCT g)), ''::tsvector)
        FROM (
            SELECT substr(r.m[1], i, n) AS g
            FROM regexp_matches(t, '{RUNS}', 'g') AS r(m),
                 generate_series(1, char_length(r.m[1])) AS i,
                 (VALUES (1), (2)) AS w(n)
            WHERE i + n - 1 <= char_length(r.m[1])
        ) grams
    $$
    """,  # noqa: S608 (constant)
    """
    CREATE OR REPLACE FUNCTION chat_message_search_doc() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.recalled_at IS NULL AND NEW.kind <> 'system' AND NEW.text <> '' THEN
            NEW.search_doc := to_tsvector('simple'::regconfig, NEW.text)
                              || chat_no_space_grams(NEW.text);
        ELSE
            NEW.search_doc := NULL;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    f"""
    UPDATE chat_message
    SET search_doc = to_tsvector('simple'::regconfig, text) || chat_no_space_grams(text)
    WHERE recalled_at IS NULL AND kind <> 'system' AND text ~ '{RUNS}'
    """,  # noqa: S608 (constant)
]
PG_BACKWARD = [
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
    "DROP FUNCTION IF EXISTS chat_no_space_grams(text)",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("chat", "0005_history_backups_disappearing")]

    operations = [migrations.RunPython(_run(PG_FORWARD), _run(PG_BACKWARD))]
