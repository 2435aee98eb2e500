"""PostgreSQL: `store_checkout`, the purchase's checkout read as a PL/pgSQL function.

The read is one statement (the pack, its creator's share, whether the recipient owns it,
the three ledger account ids, the buyer's PIN record), but sent as SQL text PostgreSQL
planned it on every purchase: ~0.3 ms of planning for ~0.1 ms of execution on the bench
machine. Inside a function its plan is cached per connection. Same query, same answers
(no row when there is no such pack); SQLite keeps the SQL text in
store/services/purchases.py.
"""

from django.db import migrations

CHECKOUT = """
CREATE OR REPLACE FUNCTION store_checkout(
    p_pack bigint, p_buyer bigint, p_recipient bigint, p_wallet_kind varchar,
    p_creator_kind varchar, p_creator_suffix varchar, p_revenue_kind varchar,
    p_revenue_ref varchar
) RETURNS TABLE (
    id bigint, creator_id bigint, title varchar, price_amount bigint, currency varchar,
    status varchar, revenue_share_bps integer, owned boolean, wallet_account_id bigint,
    creator_account_id bigint, revenue_account_id bigint, pin_user_id bigint,
    pin_free_limit bigint, locked_until timestamptz
) AS $$
-- The pack by primary key alone (the caller checks its status): a plan that does not
-- depend on statistics.
BEGIN
    RETURN QUERY
    SELECT p.id, p.creator_id, p.title, p.price_amount, p.currency, p.status,
           c.revenue_share_bps,
           EXISTS (SELECT 1 FROM store_entitlement e
                    WHERE e.user_id = p_recipient AND e.pack_id = p.id),
           (SELECT a.id FROM payments_account a
             WHERE a.currency = p.currency AND a.kind = p_wallet_kind
               AND a.owner_id = p_buyer LIMIT 1),
           (SELECT a.id FROM payments_account a
             WHERE a.currency = p.currency AND a.kind = p_creator_kind AND a.owner_id IS NULL
               AND a.owner_ref = 'creator:' || p.creator_id || p_creator_suffix LIMIT 1),
           (SELECT a.id FROM payments_account a
             WHERE a.currency = p.currency AND a.kind = p_revenue_kind AND a.owner_id IS NULL
               AND a.owner_ref = p_revenue_ref LIMIT 1),
           pin.user_id, pin.pin_free_limit, pin.locked_until
      FROM store_pack p JOIN store_creatorprofile c ON c.id = p.creator_id
      LEFT JOIN payments_paymentpin pin ON pin.user_id = p_buyer
     WHERE p.id = p_pack;
END
$$ LANGUAGE plpgsql STABLE;
"""

FORWARD = [CHECKOUT]

BACKWARD = [
    "DROP FUNCTION IF EXISTS store_checkout(bigint, bigint, bigint, varchar, varchar, "
    "varchar, varchar, varchar);",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)  # no params: keep % literal

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("store", "0002_drop_user_fk_indexes_covered_by_composites"),
        ("payments", "0001_ledger_pin_idempotency"),
    ]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
