"""PostgreSQL: `payments_transfer_create` and `payments_transfer_accept`, each a whole
transfer step in ONE call (docs/LEDGER.md, "Transfers").

Making a transfer was three statements inside its transaction (the hold, the daily-limit
sum, the transfer row) and accepting one three (lock the transfer with its hold, the hold
post, the status update), plus a read of the wallets' balances after each COMMIT for the
`wallet.updated` event. Each round trip cost more CPU in Django + psycopg + the server's
statement start-up than the work, and the wallet rows stayed locked across them. Here each
step is one call, which also returns the wallets' balances as they are after it, so the
event is built without another read and recorded in the same transaction.

The ledger's own functions do the money (`payments_ledger_hold_create`,
`payments_ledger_hold_post`): the same checks, lock order (transfer -> hold -> accounts
by id) and database guards as before. A refusal writes nothing and comes back as a
status, never as an SQL error, so the caller's transaction is never aborted.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION payments_transfer_create(
    p_sender bigint, p_recipient bigint, p_src bigint, p_dst bigint, p_amount bigint,
    p_currency varchar, p_limit bigint, p_since timestamptz, p_note varchar,
    p_conversation bigint, p_now timestamptz, p_expires_at timestamptz,
    OUT o_status text, OUT o_detail text, OUT o_transfer bigint, OUT o_hold bigint,
    OUT w_currency varchar[], OUT w_balance bigint[], OUT w_pending bigint[]
) AS $$
-- o_status: created | daily_limit | the hold's refusals (insufficient, unknown_account,
--           mixed_currencies). Nothing is written unless created.
DECLARE
    r record;
    v_sent bigint;
    v_debit payments_account%ROWTYPE;
BEGIN
    -- Both wallets locked in id order (the hold re-locks them harmlessly) and kept to our
    -- COMMIT: every transfer of this sender queues here, so the sum below, a statement
    -- of its own (a snapshot taken after the lock), sees every earlier one.
    PERFORM 1 FROM payments_account a WHERE a.id IN (p_src, p_dst) ORDER BY a.id FOR UPDATE;
    SELECT coalesce(sum(t.amount), 0) INTO v_sent FROM payments_transfer t
     WHERE t.sender_id = p_sender AND t.currency = p_currency AND t.created_at >= p_since
       AND t.status IN ('pending', 'accepted');
    IF v_sent + p_amount > p_limit THEN
        -- Past the limit. Short of money too: the hold below says so first, as before.
        SELECT * INTO v_debit FROM payments_account WHERE id = p_src;
        IF FOUND AND (v_debit.allow_negative
                      OR v_debit.balance - v_debit.pending_debits >= p_amount) THEN
            o_status := 'daily_limit';
            o_detail := p_limit::text;
            RETURN;
        END IF;
    END IF;
    SELECT * INTO r FROM payments_ledger_hold_create(
        'transfer', p_src, p_dst, p_amount, NULL, '', '{}'::jsonb, p_expires_at, p_now);
    IF r.o_status <> 'created' THEN
        o_status := r.o_status;
        o_detail := r.o_detail;
        RETURN;
    END IF;
    IF v_sent + p_amount > p_limit THEN
        RAISE EXCEPTION 'payments_transfer_create: hold made past the daily limit';
    END IF;
    INSERT INTO payments_transfer (sender_id, recipient_id, amount, currency, note,
                                   conversation_id, status, hold_id, created_at, expires_at,
                                   resolved_at)
    VALUES (p_sender, p_recipient, p_amount, p_currency, p_note, p_conversation, 'pending',
            r.h_id, p_now, p_expires_at, NULL)
    RETURNING id INTO o_transfer;
    o_hold := r.h_id;
    SELECT array_agg(a.currency ORDER BY a.currency), array_agg(a.balance ORDER BY a.currency),
           array_agg(a.pending_debits ORDER BY a.currency)
      INTO w_currency, w_balance, w_pending
      FROM payments_account a WHERE a.kind = 'user_wallet' AND a.owner_id = p_sender;
    o_status := 'created';
END
$$ LANGUAGE plpgsql;
"""

ACCEPT = """
CREATE OR REPLACE FUNCTION payments_transfer_accept(
    p_transfer bigint, p_recipient bigint, p_fee_bps bigint, p_revenue_ref varchar,
    p_now timestamptz,
    OUT o_status text, OUT o_detail text,
    OUT t_id bigint, OUT t_sender bigint, OUT t_recipient bigint, OUT t_amount bigint,
    OUT t_currency varchar, OUT t_note varchar, OUT t_conversation bigint,
    OUT t_status varchar, OUT t_hold bigint, OUT t_created_at timestamptz,
    OUT t_expires_at timestamptz, OUT t_resolved_at timestamptz,
    OUT w_owner bigint[], OUT w_currency varchar[], OUT w_balance bigint[],
    OUT w_pending bigint[]
) AS $$
-- o_status: accepted | accepted_before (already accepted: nothing done) | not_found |
--           not_pending | expired | need_revenue (the fee's revenue shard does not exist
--           yet: create it and call again) | the hold post's refusals and `exists`.
-- Nothing is written unless accepted. The t_ columns are the transfer (after the update).
DECLARE
    t record;
    v_fee bigint;
    v_revenue bigint;
    v_ids bigint[];
    v_amounts bigint[];
    r record;
BEGIN
    -- Lock order everywhere: the transfer, its hold, then the accounts (the hold post).
    SELECT tr.*, h.debit_account_id AS hold_debit, h.credit_account_id AS hold_credit INTO t
      FROM payments_transfer tr JOIN payments_hold h ON h.id = tr.hold_id
     WHERE tr.id = p_transfer AND tr.recipient_id = p_recipient
       FOR UPDATE;
    IF NOT FOUND THEN
        o_status := 'not_found';
        RETURN;
    END IF;
    t_id := t.id; t_sender := t.sender_id; t_recipient := t.recipient_id;
    t_amount := t.amount; t_currency := t.currency; t_note := t.note;
    t_conversation := t.conversation_id; t_status := t.status; t_hold := t.hold_id;
    t_created_at := t.created_at; t_expires_at := t.expires_at;
    t_resolved_at := t.resolved_at;
    IF t.status = 'accepted' THEN
        o_status := 'accepted_before';
        RETURN;
    END IF;
    IF t.status <> 'pending' THEN
        o_status := 'not_pending';
        RETURN;
    END IF;
    IF t.expires_at <= p_now THEN
        o_status := 'expired';
        RETURN;
    END IF;
    v_fee := CASE WHEN p_fee_bps > 0 THEN t.amount * p_fee_bps / 10000 ELSE 0 END;
    IF v_fee > 0 THEN
        SELECT a.id INTO v_revenue FROM payments_account a
         WHERE a.kind = 'platform_revenue' AND a.currency = t.currency
           AND a.owner_id IS NULL AND a.owner_ref = p_revenue_ref;
        IF NOT FOUND THEN
            o_status := 'need_revenue';
            RETURN;
        END IF;
        v_ids := ARRAY[t.hold_debit, t.hold_credit, v_revenue];
        v_amounts := ARRAY[-t.amount, t.amount - v_fee, v_fee];
    END IF;
    SELECT * INTO r FROM payments_ledger_hold_post(
        t.hold_id, 'transfer.accept', NULL, v_ids, v_amounts, NULL, p_now);
    IF r.o_status <> 'posted' THEN
        o_status := r.o_status;
        o_detail := r.o_detail;
        RETURN;
    END IF;
    UPDATE payments_transfer SET status = 'accepted', resolved_at = p_now WHERE id = t.id;
    t_status := 'accepted';
    t_resolved_at := p_now;
    SELECT array_agg(a.owner_id ORDER BY a.owner_id, a.currency),
           array_agg(a.currency ORDER BY a.owner_id, a.currency),
           array_agg(a.balance ORDER BY a.owner_id, a.currency),
           array_agg(a.pending_debits ORDER BY a.owner_id, a.currency)
      INTO w_owner, w_currency, w_balance, w_pending
      FROM payments_account a
     WHERE a.kind = 'user_wallet' AND a.owner_id IN (t.sender_id, t.recipient_id);
    o_status := 'accepted';
END
$$ LANGUAGE plpgsql;
"""

FORWARD = [CREATE, ACCEPT]

BACKWARD = [
    "DROP FUNCTION IF EXISTS payments_transfer_accept(bigint, bigint, bigint, varchar, "
    "timestamptz);",
    "DROP FUNCTION IF EXISTS payments_transfer_create(bigint, bigint, bigint, bigint, bigint, "
    "varchar, bigint, timestamptz, varchar, bigint, timestamptz, timestamptz);",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)  # no params: keep % literal

    return apply


class Migration(migrations.Migration):
    dependencies = [("payments", "0008_red_packet_claim_function")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
