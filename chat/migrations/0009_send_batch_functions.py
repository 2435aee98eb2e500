"""The group-commit send's two statements as PL/pgSQL functions with cached generic plans,
and a search document that skips the no-space bigrams for text without such scripts
(PostgreSQL only).

Why functions: `chat.services.send_batch` runs two statements per batch (the members of
the batch's conversations; the write of several CTEs). PostgreSQL parsed and planned both
on every call — ~1.5 ms of its CPU per batch, more than executing them for a handful of
messages. Even prepared, the plan cache kept choosing custom plans (a custom plan for a
one-element array looks cheaper than the generic one), so it kept planning. A function's
statements are prepared once per connection, and `SET plan_cache_mode =
force_generic_plan` on the function makes them plan once too. The plans use the indexes
whatever the array sizes (primary keys and the unique (conversation, user) membership key).

The search document (`chat_search_doc`, migration 0008, which the insert trigger and brand
campaigns call): `chat_no_space_grams` is a SQL function (regexp_matches,
generate_series), planned on each call, ~40% of the document's cost; for text without
Thai, Lao, Myanmar, Khmer, kana, CJK or Hangul it returns the empty tsvector. It is now
called only when the text holds one of those scripts (the same character class, one
cached regex match), so every search document is exactly what it was.
"""

from django.db import migrations

# The character class of chat_no_space_grams (migration 0006), one character of it.
NO_SPACE_CHAR = r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]"

_DOC = "to_tsvector('simple'::regconfig, t)"

PG_FORWARD = [
    # Joined through unnest (one index probe per conversation), not `= ANY(…) AND left_at
    # IS NULL`: a generic plan of that could AND it with a scan of every active membership.
    """
    CREATE OR REPLACE FUNCTION chat_send_members(p_convs bigint[])
    RETURNS TABLE (conv_id bigint, member_id bigint, is_muted boolean, is_blocked boolean)
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode = force_generic_plan
    AS $$
    BEGIN
        RETURN QUERY
        SELECT m.conversation_id, m.user_id, m.muted,
               c.kind = 'direct' AND EXISTS (
                   SELECT 1 FROM chat_membership o JOIN accounts_block b
                     ON (b.blocker_id = m.user_id AND b.blocked_id = o.user_id)
                     OR (b.blocker_id = o.user_id AND b.blocked_id = m.user_id)
                   WHERE o.conversation_id = m.conversation_id AND o.user_id <> m.user_id
                     AND o.left_at IS NULL
               )
        FROM unnest(p_convs) AS x(id)
        JOIN chat_conversation c ON c.id = x.id
        JOIN chat_membership m ON m.conversation_id = x.id
        WHERE m.left_at IS NULL;
    END
    $$
    """,
    # `locked` takes the conversation row locks in id order (its rows come out of the sort
    # one by one and are locked as they come), so two batches touching the same
    # conversations never deadlock; `bumped` then reserves the seqs under those locks
    # (READ COMMITTED re-reads the latest committed counters). Django's foreign keys are
    # DEFERRABLE INITIALLY DEFERRED, so the event rows may reference the messages inserted
    # by the sibling CTE.
    """
    CREATE OR REPLACE FUNCTION chat_send_batch(
        p_conv bigint[], p_sender bigint[], p_client_id text[], p_kind text[],
        p_body text[], p_payload jsonb[], p_mentions jsonb[], p_ord int[],
        p_now timestamptz)
    RETURNS TABLE (msg_id bigint, msg_conv bigint, msg_seq bigint)
    LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan
    AS $$
    BEGIN
        RETURN QUERY
        WITH input AS (
            SELECT * FROM unnest(p_conv, p_sender, p_client_id, p_kind, p_body, p_payload,
                                 p_mentions, p_ord)
                AS t(conv, sender, client_id, kind, body, payload, mentions, ord)
        ), counts AS (
            SELECT i.conv, count(*)::bigint AS n FROM input i GROUP BY i.conv
        ), locked AS (
            SELECT c.id FROM chat_conversation c WHERE c.id IN (SELECT k.conv FROM counts k)
            ORDER BY c.id FOR UPDATE
        ), bumped AS (
            UPDATE chat_conversation c
            SET last_seq = c.last_seq + k.n, last_event_seq = c.last_event_seq + k.n,
                last_message_at = p_now
            FROM locked l JOIN counts k ON k.conv = l.id
            WHERE c.id = l.id
            RETURNING c.id, c.last_seq - k.n AS seq0, c.last_event_seq - k.n AS eseq0
        ), msgs AS (
            INSERT INTO chat_message (conversation_id, seq, sender_id, client_id, kind, text,
                                      payload, reply_to_seq, mentions, created_at)
            SELECT i.conv, b.seq0 + i.ord, i.sender, i.client_id, i.kind, i.body, i.payload,
                   NULL, i.mentions, p_now
            FROM input i JOIN bumped b ON b.id = i.conv
            ORDER BY i.conv, i.ord
            RETURNING chat_message.id, chat_message.conversation_id, chat_message.seq
        ), evs AS (
            INSERT INTO chat_chatevent (conversation_id, event_seq, type, message_id, data,
                                        created_at)
            SELECT m.conversation_id, b.eseq0 + (m.seq - b.seq0), 'message.new', m.id,
                   '{}'::jsonb, p_now
            FROM msgs m JOIN bumped b ON b.id = m.conversation_id
        ), reads AS (
            UPDATE chat_membership mb SET last_read_seq = r.seq, last_delivered_seq = r.seq
            FROM (SELECT i.conv, i.sender, max(b.seq0 + i.ord) AS seq
                  FROM input i JOIN bumped b ON b.id = i.conv GROUP BY 1, 2) r
            WHERE mb.conversation_id = r.conv AND mb.user_id = r.sender
        )
        SELECT m.id, m.conversation_id, m.seq FROM msgs m;
    END
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION chat_search_doc(t text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT {_DOC}
               || CASE WHEN t ~ '{NO_SPACE_CHAR}' THEN chat_no_space_grams(t)
                       ELSE ''::tsvector END
               || chat_word_pairs({_DOC})
    $$
    """,
]

PG_BACKWARD = [
    f"""
    CREATE OR REPLACE FUNCTION chat_search_doc(t text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT {_DOC} || chat_no_space_grams(t) || chat_word_pairs({_DOC})
    $$
    """,
    "DROP FUNCTION IF EXISTS chat_send_batch(bigint[], bigint[], text[], text[], text[],"
    " jsonb[], jsonb[], int[], timestamptz)",
    "DROP FUNCTION IF EXISTS chat_send_members(bigint[])",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("chat", "0008_search_doc_precomputed")]

    operations = [migrations.RunPython(_run(PG_FORWARD), _run(PG_BACKWARD))]
