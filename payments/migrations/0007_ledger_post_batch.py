"""PostgreSQL: `payments_ledger_post_batch`, many independent entries in ONE statement.

Group commit (payments/ledger_group.py): concurrent `post_entry` calls made outside a
transaction hand their entry to one caller, which posts them all in one call of this
function, so the batch pays one round trip, one plan execution and one COMMIT (one WAL
flush) instead of one each. Every entry is still judged alone, exactly as
`payments_ledger_post` judges it: key already used -> `exists`; an unknown account,
an unbalanced currency or an account that may not go negative going below its pending
debits -> that entry only is refused, the others are posted. Accounts are locked once for
the whole batch, in id order, and each account's cached balance is written once with its
final value (a hot account hit by many entries of the batch takes one UPDATE); every
posting still gets its own running `balance_after`, computed in entry order.

The guards are unchanged: the CHECK constraints on payments_account and the deferred
balance trigger of 0002 check what this function writes at COMMIT.
"""

from django.db import migrations

POST_BATCH = """
CREATE OR REPLACE FUNCTION payments_ledger_post_batch(
    p_kinds varchar[], p_keys varchar[], p_references varchar[], p_metadata jsonb[],
    p_now timestamptz, p_line_entry integer[], p_ids bigint[], p_amounts bigint[],
    OUT o_status text[], OUT o_entry_id bigint[], OUT o_detail text[],
    OUT o_line_balance bigint[], OUT o_line_pending bigint[]
) AS $$
-- Entry n (1-based) has kind p_kinds[n], key p_keys[n] (NULL: none), ...; its lines are
-- the positions i with p_line_entry[i] = n, contiguous and in entry order, merged per
-- account and non-zero (the caller normalizes).
-- o_status[n]: posted | exists (o_entry_id[n] holds the key) | insufficient |
--              unbalanced (o_detail[n]: the currency) | unknown_account
-- o_line_balance[i] / o_line_pending[i]: the account's balance and pending debits right
-- after line i's entry was posted (NULL when it was not).
DECLARE
    r record;
    v_n integer := cardinality(p_kinds);
    v_lines integer := coalesce(cardinality(p_ids), 0);
    -- the locked accounts, by position in id order
    a_id bigint[] := '{}';
    a_cur varchar[] := '{}';
    a_neg boolean[] := '{}';
    a_bal bigint[] := '{}';
    a_pend bigint[] := '{}';
    a_dirty boolean[] := '{}';
    v_first integer;
    v_last integer := 0;
    v_i integer;
    v_pos integer;
    v_curs varchar[];
    v_sums bigint[];
    v_bad text;
    v_detail text;
    v_entry bigint;
    -- the postings to insert
    q_entry bigint[] := '{}';
    q_account bigint[] := '{}';
    q_amount bigint[] := '{}';
    q_cur varchar[] := '{}';
    q_after bigint[] := '{}';
    v_line_pos integer[] := array_fill(NULL::integer, ARRAY[v_lines]);
BEGIN
    o_status := array_fill(NULL::text, ARRAY[v_n]);
    o_entry_id := array_fill(NULL::bigint, ARRAY[v_n]);
    o_detail := array_fill(NULL::text, ARRAY[v_n]);
    o_line_balance := array_fill(NULL::bigint, ARRAY[v_lines]);
    o_line_pending := array_fill(NULL::bigint, ARRAY[v_lines]);
    -- Keys already posted before this batch: the caller compares the content.
    FOR r IN SELECT e.id, k.n
               FROM unnest(p_keys) WITH ORDINALITY AS k(key, n)
               JOIN payments_journalentry e ON e.idempotency_key = k.key
    LOOP
        o_status[r.n] := 'exists';
        o_entry_id[r.n] := r.id;
    END LOOP;
    -- Lock every account of the batch once, in ascending id order: batches and single
    -- posts touching the same accounts queue, never deadlock.
    FOR r IN SELECT a.id, a.currency, a.allow_negative, a.balance, a.pending_debits
               FROM payments_account a WHERE a.id = ANY (p_ids)
              ORDER BY a.id FOR UPDATE
    LOOP
        a_id := a_id || r.id;
        a_cur := a_cur || r.currency;
        a_neg := a_neg || r.allow_negative;
        a_bal := a_bal || r.balance;
        a_pend := a_pend || r.pending_debits;
        a_dirty := a_dirty || false;
    END LOOP;
    FOR v_i IN 1 .. v_lines LOOP
        v_line_pos[v_i] := array_position(a_id, p_ids[v_i]);
    END LOOP;
    -- Each entry in order, judged on the running balances the entries before it left.
    FOR v_e IN 1 .. v_n LOOP
        v_first := v_last + 1;
        v_last := v_first;
        WHILE v_last + 1 <= v_lines AND p_line_entry[v_last + 1] = v_e LOOP
            v_last := v_last + 1;
        END LOOP;
        CONTINUE WHEN o_status[v_e] IS NOT NULL;  -- exists
        v_bad := NULL;
        v_detail := NULL;
        v_curs := '{}';
        v_sums := '{}';
        FOR v_i IN v_first .. v_last LOOP
            v_pos := v_line_pos[v_i];
            IF v_pos IS NULL THEN
                v_bad := 'unknown_account';
                EXIT;
            END IF;
            IF array_position(v_curs, a_cur[v_pos]) IS NULL THEN
                v_curs := v_curs || a_cur[v_pos];
                v_sums := v_sums || p_amounts[v_i];
            ELSE
                v_sums[array_position(v_curs, a_cur[v_pos])] :=
                    v_sums[array_position(v_curs, a_cur[v_pos])] + p_amounts[v_i];
            END IF;
            IF p_amounts[v_i] < 0 AND NOT a_neg[v_pos]
               AND a_bal[v_pos] + p_amounts[v_i] < a_pend[v_pos] AND v_detail IS NULL THEN
                v_detail := a_cur[v_pos];
            END IF;
        END LOOP;
        IF v_bad IS NULL THEN
            FOR v_c IN 1 .. cardinality(v_curs) LOOP
                IF v_sums[v_c] <> 0 THEN
                    v_bad := 'unbalanced';
                    v_detail := v_curs[v_c];
                    EXIT;
                END IF;
            END LOOP;
        END IF;
        IF v_bad IS NULL AND v_detail IS NOT NULL THEN
            v_bad := 'insufficient';
            -- A concurrent post with this key may have committed (and spent the money)
            -- while we waited for the locks: then the replay answers with that entry.
            IF p_keys[v_e] IS NOT NULL THEN
                SELECT e.id INTO v_entry FROM payments_journalentry e
                 WHERE e.idempotency_key = p_keys[v_e];
                IF FOUND THEN
                    v_bad := 'exists';
                    o_entry_id[v_e] := v_entry;
                END IF;
            END IF;
        END IF;
        IF v_bad IS NULL THEN
            -- Waits for a concurrent insert of the same key to commit or roll back; the
            -- same key twice in this batch: the second finds the first.
            INSERT INTO payments_journalentry
                   (kind, idempotency_key, reference, metadata, created_at)
            VALUES (p_kinds[v_e], p_keys[v_e], p_references[v_e], p_metadata[v_e], p_now)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id INTO v_entry;
            IF v_entry IS NULL THEN
                SELECT e.id INTO v_entry FROM payments_journalentry e
                 WHERE e.idempotency_key = p_keys[v_e];
                v_bad := 'exists';
                o_entry_id[v_e] := v_entry;
            END IF;
        END IF;
        IF v_bad IS NOT NULL THEN
            o_status[v_e] := v_bad;
            IF v_bad <> 'exists' THEN
                o_detail[v_e] := v_detail;
            END IF;
        ELSE
            o_status[v_e] := 'posted';
            o_entry_id[v_e] := v_entry;
            FOR v_i IN v_first .. v_last LOOP
                v_pos := v_line_pos[v_i];
                a_bal[v_pos] := a_bal[v_pos] + p_amounts[v_i];
                a_dirty[v_pos] := true;
                o_line_balance[v_i] := a_bal[v_pos];
                o_line_pending[v_i] := a_pend[v_pos];
                q_entry := q_entry || v_entry;
                q_account := q_account || p_ids[v_i];
                q_amount := q_amount || p_amounts[v_i];
                q_cur := q_cur || a_cur[v_pos];
                q_after := q_after || a_bal[v_pos];
            END LOOP;
        END IF;
    END LOOP;
    IF cardinality(q_entry) = 0 THEN
        RETURN;
    END IF;
    -- One UPDATE per account with its final balance (a hot account once per batch), and
    -- the postings in one INSERT.
    WITH u AS (
        UPDATE payments_account a SET balance = v.balance
          FROM unnest(a_id, a_bal, a_dirty) AS v(id, balance, dirty)
         WHERE v.dirty AND a.id = v.id
    )
    INSERT INTO payments_posting
           (entry_id, account_id, amount, currency, balance_after, created_at)
    SELECT l.entry_id, l.account_id, l.amount, l.currency, l.balance_after, p_now
      FROM unnest(q_entry, q_account, q_amount, q_cur, q_after)
           WITH ORDINALITY AS l(entry_id, account_id, amount, currency, balance_after, n)
     ORDER BY l.n;
END
$$ LANGUAGE plpgsql;
"""

FORWARD = [POST_BATCH]

BACKWARD = [
    "DROP FUNCTION IF EXISTS payments_ledger_post_batch(varchar[], varchar[], varchar[], "
    "jsonb[], timestamptz, integer[], bigint[], bigint[]);",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)  # no params: keep % literal

    return apply


class Migration(migrations.Migration):
    dependencies = [("payments", "0006_ledger_functions")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
