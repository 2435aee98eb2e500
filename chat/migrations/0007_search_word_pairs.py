"""Word pairs in the search document (PostgreSQL), so phrases use the GIN index.

A phrase query (`"see you"`) was matched through the index as `see & you`, and then every
message holding both words was read back to check that they stand next to each other:
for two common words that is most of the caller's history (80 ms of CPU over 200,000
messages). Every pair of neighbouring words is now also a lexeme of `search_doc`
(`'see you'`, a lexeme with a space, which the parser never makes from a query, so typing
it cannot collide), and the selector adds the phrase's pairs to the indexed condition;
the positional check still decides, on the few messages that hold the pairs.

Both sides use `chat_word_pairs(to_tsvector('simple', …))`, so a message that matches a
phrase always holds all of the phrase's pairs (same parser, same positions).
"""

from django.db import migrations

_DOC = "to_tsvector('simple'::regconfig, {t})"
_FULL = f"{_DOC} || chat_no_space_grams({{t}}) || chat_word_pairs({_DOC})"

PG_FORWARD = [
    # plpgsql, not one SQL statement (unnest + self-join + array_agg): half the CPU per
    # message, and it runs in the insert trigger. Lexemes are laid out by position, and
    # each two neighbours make a pair (array_to_tsvector drops repeats).
    """
    CREATE OR REPLACE FUNCTION chat_word_pairs(doc tsvector) RETURNS tsvector
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    DECLARE
        words text[] := '{}';
        pairs text[] := '{}';
        r record;
        p int;
    BEGIN
        FOR r IN SELECT u.lexeme, u.positions FROM unnest(doc) u LOOP
            IF r.positions IS NOT NULL THEN
                FOREACH p IN ARRAY r.positions LOOP
                    words[p] := r.lexeme;
                END LOOP;
            END IF;
        END LOOP;
        FOR i IN 1 .. coalesce(array_upper(words, 1), 0) - 1 LOOP
            IF words[i] IS NOT NULL AND words[i + 1] IS NOT NULL THEN
                pairs := pairs || (words[i] || ' ' || words[i + 1]);
            END IF;
        END LOOP;
        RETURN array_to_tsvector(pairs);
    END
    $$
    """,
    # The pairs of a phrase as a tsquery ('a b' & 'b c'); NULL when it has fewer than two
    # words. Lexemes are quoted for tsquery input: a quote doubled, a backslash escaped.
    """
    CREATE OR REPLACE FUNCTION chat_phrase_pairs(phrase text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT string_agg(
                   '''' || replace(replace(x, '\\', '\\\\'), '''', '''''') || '''', ' & '
               )::tsquery
        FROM unnest(tsvector_to_array(chat_word_pairs(to_tsvector('simple'::regconfig, phrase)))) x
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION chat_message_search_doc() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.recalled_at IS NULL AND NEW.kind <> 'system' AND NEW.text <> '' THEN
            NEW.search_doc := {_FULL.format(t="NEW.text")};
        ELSE
            NEW.search_doc := NULL;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    f"""
    UPDATE chat_message SET search_doc = {_FULL.format(t="text")}
    WHERE recalled_at IS NULL AND kind <> 'system' AND text <> ''
    """,  # noqa: S608 (constant)
]
PG_BACKWARD = [
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
    """
    UPDATE chat_message
    SET search_doc = to_tsvector('simple'::regconfig, text) || chat_no_space_grams(text)
    WHERE recalled_at IS NULL AND kind <> 'system' AND text <> ''
    """,
    "DROP FUNCTION IF EXISTS chat_phrase_pairs(text)",
    "DROP FUNCTION IF EXISTS chat_word_pairs(tsvector)",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("chat", "0006_search_cjk_bigrams")]

    operations = [migrations.RunPython(_run(PG_FORWARD), _run(PG_BACKWARD))]
