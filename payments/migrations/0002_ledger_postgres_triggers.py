"""PostgreSQL guards the ledger itself: an unbalanced entry cannot commit (a deferred
constraint trigger checks each entry's per-currency sum at COMMIT), and postings and
journal entries are append-only. SQLite has no deferred triggers; there the service
layer (payments.ledger) guarantees balance and ledger_check proves it."""

from django.db import migrations

FORWARD = [
    """
    CREATE OR REPLACE FUNCTION payments_ledger_entry_balanced() RETURNS trigger AS $$
    DECLARE
        bad record;
    BEGIN
        SELECT currency, SUM(amount) AS total INTO bad
          FROM payments_posting WHERE entry_id = NEW.entry_id
         GROUP BY currency HAVING SUM(amount) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'ledger: journal entry % does not balance in % (sum %)',
                NEW.entry_id, bad.currency, bad.total USING ERRCODE = '23514';
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql;
    """,
    """
    CREATE CONSTRAINT TRIGGER payments_posting_entry_balanced
        AFTER INSERT ON payments_posting
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION payments_ledger_entry_balanced();
    """,
    """
    CREATE OR REPLACE FUNCTION payments_ledger_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'ledger: % rows never change; post a correcting entry', TG_TABLE_NAME
            USING ERRCODE = '23514';
    END
    $$ LANGUAGE plpgsql;
    """,
    """
    CREATE TRIGGER payments_posting_append_only BEFORE UPDATE OR DELETE ON payments_posting
        FOR EACH ROW EXECUTE FUNCTION payments_ledger_append_only();
    """,
    """
    CREATE TRIGGER payments_journalentry_append_only
        BEFORE UPDATE OR DELETE ON payments_journalentry
        FOR EACH ROW EXECUTE FUNCTION payments_ledger_append_only();
    """,
]

BACKWARD = [
    "DROP TRIGGER IF EXISTS payments_journalentry_append_only ON payments_journalentry;",
    "DROP TRIGGER IF EXISTS payments_posting_append_only ON payments_posting;",
    "DROP TRIGGER IF EXISTS payments_posting_entry_balanced ON payments_posting;",
    "DROP FUNCTION IF EXISTS payments_ledger_append_only();",
    "DROP FUNCTION IF EXISTS payments_ledger_entry_balanced();",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)  # no params: keep % literal

    return apply


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_ledger_pin_idempotency")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
