from django.db import migrations, models


def fillfactor(apps, schema_editor):
    # Room on each page for heap-only updates of the bot rows a tick rewrites (lock, claim, heartbeat).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE bots_bot SET (fillfactor = 70)")


def fillfactor_back(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE bots_bot RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("bots", "0003_runtime")]

    operations = [
        migrations.AddField(
            model_name="bot",
            name="claimed_until",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="Dispatched: its tick is queued until then, or re-dispatched.",
                null=True,
            ),
        ),
        migrations.RunPython(fillfactor, fillfactor_back),
    ]
