import hashlib

from django.db import migrations


def backfill(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    for user in User.objects.filter(phone__isnull=False, phone_hash__isnull=True).iterator():
        user.phone_hash = hashlib.sha256(user.phone.encode()).hexdigest()
        user.save(update_fields=["phone_hash"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_friend_graph_discovery_add_me")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
