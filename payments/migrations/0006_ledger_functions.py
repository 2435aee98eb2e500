"""PostgreSQL: the ledger's write paths as PL/pgSQL functions, one round trip each.

`payments.ledger` used to post an entry in four statements (key check, account locks, the
insert CTE, and the transaction's BEGIN/COMMIT around them); a hold post took nine. Each
statement is a round trip plus Django and psycopg work in the calling process, and on two
shared cores that, not PostgreSQL, was most of the time (docs/LEDGER.md, "How a post
works"). These functions do the same steps in the same order inside the server, with
their plans cached:

- `payments_ledger_post`: key pre-check, account row locks in id order, per-currency
  balance and overdraft checks, entry + postings + cached balances;
- `payments_ledger_hold_create` / `_hold_post` / `_hold_void`: the two-phase holds.

Business answers (insufficient funds, a reused key, an unbalanced entry, a resolved hold)
come back as a status, not an exception, so nothing is aborted and the caller's
transaction needs no savepoint around the call; Python maps the status to the same
exceptions as before. The guards stay where they were: the CHECK constraints on
payments_account and the deferred balance trigger of 0002 still refuse anything these
functions (or anyone else) would write wrongly. SQLite keeps the Python path.
"""

from django.db import migrations

POST = """
CREATE OR REPLACE FUNCTION payments_ledger_post(
    p_kind varchar, p_key varchar, p_reference varchar, p_metadata jsonb, p_now timestamptz,
    p_ids bigint[], p_amounts bigint[], p_release_ids bigint[], p_release bigint[],
    OUT o_status text, OUT o_entry_id bigint, OUT o_ids bigint[], OUT o_balances bigint[],
    OUT o_pendings bigint[], OUT o_detail text
) AS $$
-- Lines (p_ids, p_amounts) are merged per account and non-zero (the caller normalizes);
-- p_release lowers pending_debits in the same update (a hold being posted).
-- o_status: posted | exists (o_entry_id is the entry that holds the key) |
--           insufficient (o_detail: currency) | unbalanced (o_detail: currency) |
--           unknown_account
-- Three statements when all is well (lock and read, insert the entry, one CTE for the
-- balances and postings); the checks run on the locked values in PL/pgSQL.
DECLARE
    r record;
    v_want integer := cardinality(p_ids);
    v_locked integer := 0;
    v_i integer;
    v_amount bigint;
    v_release bigint;
    v_curs varchar[] := '{}';
    v_sums bigint[] := '{}';
    v_line_cur varchar[] := array_fill(NULL::varchar, ARRAY[cardinality(p_ids)]);
    v_line_bal bigint[] := array_fill(NULL::bigint, ARRAY[cardinality(p_ids)]);
    v_short varchar;
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT e.id INTO o_entry_id FROM payments_journalentry e WHERE e.idempotency_key = p_key;
        IF FOUND THEN
            o_status := 'exists';
            RETURN;
        END IF;
    END IF;
    FOR v_i IN 1 .. coalesce(cardinality(p_release_ids), 0) LOOP
        IF p_release_ids[v_i] <> ALL (p_ids) THEN
            v_want := v_want + 1;
        END IF;
    END LOOP;
    o_ids := '{}'; o_balances := '{}'; o_pendings := '{}';
    -- Lock in ascending id order: two entries on the same accounts queue, never deadlock.
    FOR r IN SELECT a.id, a.currency, a.allow_negative, a.balance, a.pending_debits
               FROM payments_account a
              WHERE a.id = ANY (p_ids) OR a.id = ANY (p_release_ids)
              ORDER BY a.id FOR UPDATE
    LOOP
        v_locked := v_locked + 1;
        v_i := array_position(p_ids, r.id);
        v_amount := CASE WHEN v_i IS NULL THEN 0 ELSE p_amounts[v_i] END;
        v_release := coalesce(p_release[array_position(p_release_ids, r.id)], 0);
        o_ids := o_ids || r.id;
        o_balances := o_balances || (r.balance + v_amount);
        o_pendings := o_pendings || (r.pending_debits - v_release);
        IF v_i IS NOT NULL THEN
            v_line_cur[v_i] := r.currency;
            v_line_bal[v_i] := r.balance + v_amount;
            IF array_position(v_curs, r.currency) IS NULL THEN
                v_curs := v_curs || r.currency;
                v_sums := v_sums || v_amount;
            ELSE
                v_sums[array_position(v_curs, r.currency)] :=
                    v_sums[array_position(v_curs, r.currency)] + v_amount;
            END IF;
            IF v_amount < 0 AND NOT r.allow_negative
               AND r.balance + v_amount < r.pending_debits - v_release AND v_short IS NULL THEN
                v_short := r.currency;
            END IF;
        END IF;
    END LOOP;
    IF v_locked <> v_want THEN
        o_status := 'unknown_account';
        RETURN;
    END IF;
    FOR v_i IN 1 .. cardinality(v_curs) LOOP
        IF v_sums[v_i] <> 0 THEN
            o_status := 'unbalanced';
            o_detail := v_curs[v_i];
            RETURN;
        END IF;
    END LOOP;
    IF v_short IS NOT NULL THEN
        -- A concurrent post with this key may have committed (and spent the money) while
        -- we waited for the locks: then the replay answers with that entry.
        IF p_key IS NOT NULL THEN
            SELECT e.id INTO o_entry_id FROM payments_journalentry e
             WHERE e.idempotency_key = p_key;
            IF FOUND THEN
                o_status := 'exists';
                RETURN;
            END IF;
        END IF;
        o_status := 'insufficient';
        o_detail := v_short;
        RETURN;
    END IF;
    -- Waits for a concurrent insert of the same key to commit or roll back; exactly one
    -- of two racing posts inserts.
    INSERT INTO payments_journalentry (kind, idempotency_key, reference, metadata, created_at)
    VALUES (p_kind, p_key, p_reference, p_metadata, p_now)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO o_entry_id;
    IF o_entry_id IS NULL THEN
        SELECT e.id INTO o_entry_id FROM payments_journalentry e WHERE e.idempotency_key = p_key;
        o_status := 'exists';
        RETURN;
    END IF;
    -- The new values were computed under the row locks, so they are written as they are.
    WITH u AS (
        UPDATE payments_account a SET balance = v.balance, pending_debits = v.pending
          FROM unnest(o_ids, o_balances, o_pendings) AS v(id, balance, pending)
         WHERE a.id = v.id
    )
    INSERT INTO payments_posting
           (entry_id, account_id, amount, currency, balance_after, created_at)
    SELECT o_entry_id, l.id, l.amount, l.currency, l.balance_after, p_now
      FROM unnest(p_ids, p_amounts, v_line_cur, v_line_bal)
           AS l(id, amount, currency, balance_after);
    o_status := 'posted';
END
$$ LANGUAGE plpgsql;
"""

# The hold's columns, returned by each hold function so the caller needs no re-read.
HOLD_OUT = """
    OUT o_status text, OUT o_detail text, OUT o_entry_id bigint,
    OUT o_ids bigint[], OUT o_balances bigint[], OUT o_pendings bigint[],
    OUT h_id bigint, OUT h_kind varchar, OUT h_debit bigint, OUT h_credit bigint,
    OUT h_amount bigint, OUT h_currency varchar, OUT h_status varchar,
    OUT h_key varchar, OUT h_reference varchar, OUT h_metadata jsonb,
    OUT h_expires_at timestamptz, OUT h_posted_entry bigint, OUT h_created_at timestamptz,
    OUT h_resolved_at timestamptz
"""

HOLD_FILL = """
    h_id := h.id; h_kind := h.kind; h_debit := h.debit_account_id;
    h_credit := h.credit_account_id; h_amount := h.amount; h_currency := h.currency;
    h_status := h.status; h_key := h.idempotency_key; h_reference := h.reference;
    h_metadata := h.metadata; h_expires_at := h.expires_at;
    h_posted_entry := h.posted_entry_id; h_created_at := h.created_at;
    h_resolved_at := h.resolved_at;
"""

HOLD_CREATE = """
CREATE OR REPLACE FUNCTION payments_ledger_hold_create(
    p_kind varchar, p_debit bigint, p_credit bigint, p_amount bigint, p_key varchar,
    p_reference varchar, p_metadata jsonb, p_expires_at timestamptz, p_now timestamptz,
    {HOLD_OUT}
) AS $$
-- o_status: created | exists | insufficient (o_detail: currency) | unknown_account |
--           mixed_currencies
DECLARE
    h payments_hold%ROWTYPE;
    v_locked integer;
    v_debit payments_account%ROWTYPE;
    v_credit_currency varchar;
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT * INTO h FROM payments_hold WHERE idempotency_key = p_key;
        IF FOUND THEN
            o_status := 'exists';
            {HOLD_FILL}
            RETURN;
        END IF;
    END IF;
    PERFORM 1 FROM payments_account a WHERE a.id IN (p_debit, p_credit) ORDER BY a.id FOR UPDATE;
    GET DIAGNOSTICS v_locked = ROW_COUNT;
    IF v_locked <> 2 THEN
        o_status := 'unknown_account';
        RETURN;
    END IF;
    SELECT * INTO v_debit FROM payments_account WHERE id = p_debit;
    SELECT currency INTO v_credit_currency FROM payments_account WHERE id = p_credit;
    IF v_debit.currency <> v_credit_currency THEN
        o_status := 'mixed_currencies';
        RETURN;
    END IF;
    IF NOT v_debit.allow_negative AND v_debit.balance - v_debit.pending_debits < p_amount THEN
        o_status := 'insufficient';
        o_detail := v_debit.currency;
        RETURN;
    END IF;
    INSERT INTO payments_hold (kind, debit_account_id, credit_account_id, amount, currency,
                               status, idempotency_key, reference, metadata, expires_at,
                               posted_entry_id, created_at, resolved_at)
    VALUES (p_kind, p_debit, p_credit, p_amount, v_debit.currency, 'pending', p_key,
            p_reference, p_metadata, p_expires_at, NULL, p_now, NULL)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING * INTO h;
    IF h.id IS NULL THEN  -- a concurrent create with this key won
        SELECT * INTO h FROM payments_hold WHERE idempotency_key = p_key;
        o_status := 'exists';
        {HOLD_FILL}
        RETURN;
    END IF;
    UPDATE payments_account SET pending_debits = pending_debits + p_amount WHERE id = p_debit;
    o_status := 'created';
    {HOLD_FILL}
END
$$ LANGUAGE plpgsql;
""".replace("{HOLD_OUT}", HOLD_OUT).replace("{HOLD_FILL}", HOLD_FILL)

HOLD_POST = """
CREATE OR REPLACE FUNCTION payments_ledger_hold_post(
    p_hold bigint, p_kind varchar, p_metadata jsonb, p_ids bigint[], p_amounts bigint[],
    p_take bigint, p_now timestamptz,
    {HOLD_OUT}
) AS $$
-- Without p_ids, moves p_take (default: all) from the debit to the credit account; with
-- them, posts those lines, which may take at most the held amount from the debit account.
-- o_status: posted | exists (the post entry's key is taken; nothing written) | not_found |
--           already_posted | already_voided | bad_amount | and payments_ledger_post's
DECLARE
    h payments_hold%ROWTYPE;
    r record;
    v_take bigint;
BEGIN
    SELECT * INTO h FROM payments_hold WHERE id = p_hold FOR UPDATE;
    IF NOT FOUND THEN
        o_status := 'not_found';
        RETURN;
    END IF;
    IF h.status <> 'pending' THEN
        o_status := 'already_' || h.status;
        RETURN;
    END IF;
    IF p_ids IS NULL THEN
        v_take := coalesce(p_take, h.amount);
        IF v_take <= 0 OR v_take > h.amount THEN
            o_status := 'bad_amount';
            RETURN;
        END IF;
        p_ids := ARRAY[h.debit_account_id, h.credit_account_id];
        p_amounts := ARRAY[-v_take, v_take];
    ELSIF -coalesce((SELECT sum(l.amount) FROM unnest(p_ids, p_amounts) AS l(id, amount)
                      WHERE l.id = h.debit_account_id), 0) > h.amount THEN
        o_status := 'bad_amount';
        RETURN;
    END IF;
    SELECT * INTO r FROM payments_ledger_post(
        coalesce(p_kind, h.kind), 'hold:' || h.id || ':post', h.reference,
        coalesce(p_metadata, h.metadata), p_now, p_ids, p_amounts,
        ARRAY[h.debit_account_id], ARRAY[h.amount]);
    o_status := r.o_status; o_detail := r.o_detail; o_entry_id := r.o_entry_id;
    o_ids := r.o_ids; o_balances := r.o_balances; o_pendings := r.o_pendings;
    IF r.o_status <> 'posted' THEN
        -- 'exists' (only a hand-made entry could hold this key): nothing was written;
        -- the caller compares that entry and resolves the hold itself or refuses.
        {HOLD_FILL}
        RETURN;
    END IF;
    UPDATE payments_hold
       SET status = 'posted', posted_entry_id = r.o_entry_id, resolved_at = p_now
     WHERE id = h.id
    RETURNING * INTO h;
    {HOLD_FILL}
END
$$ LANGUAGE plpgsql;
""".replace("{HOLD_OUT}", HOLD_OUT).replace("{HOLD_FILL}", HOLD_FILL)

HOLD_VOID = """
CREATE OR REPLACE FUNCTION payments_ledger_hold_void(
    p_hold bigint, p_now timestamptz,
    {HOLD_OUT}
) AS $$
-- o_status: voided | not_found | already_posted | already_voided
DECLARE
    h payments_hold%ROWTYPE;
BEGIN
    SELECT * INTO h FROM payments_hold WHERE id = p_hold FOR UPDATE;
    IF NOT FOUND THEN
        o_status := 'not_found';
        RETURN;
    END IF;
    IF h.status <> 'pending' THEN
        o_status := 'already_' || h.status;
        RETURN;
    END IF;
    UPDATE payments_account SET pending_debits = pending_debits - h.amount
     WHERE id = h.debit_account_id;
    UPDATE payments_hold SET status = 'voided', resolved_at = p_now
     WHERE id = h.id
    RETURNING * INTO h;
    o_status := 'voided';
    {HOLD_FILL}
END
$$ LANGUAGE plpgsql;
""".replace("{HOLD_OUT}", HOLD_OUT).replace("{HOLD_FILL}", HOLD_FILL)

FORWARD = [POST, HOLD_CREATE, HOLD_POST, HOLD_VOID]

BACKWARD = [
    "DROP FUNCTION IF EXISTS payments_ledger_hold_void(bigint, timestamptz);",
    "DROP FUNCTION IF EXISTS payments_ledger_hold_post("
    "bigint, varchar, jsonb, bigint[], bigint[], bigint, timestamptz);",
    "DROP FUNCTION IF EXISTS payments_ledger_hold_create("
    "varchar, bigint, bigint, bigint, varchar, varchar, jsonb, timestamptz, timestamptz);",
    "DROP FUNCTION IF EXISTS payments_ledger_post("
    "varchar, varchar, varchar, jsonb, timestamptz, bigint[], bigint[], bigint[], bigint[]);",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)  # no params: keep % literal

    return apply


class Migration(migrations.Migration):
    dependencies = [("payments", "0005_red_packets")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
