"""Organizations created before alerts existed get the default rule new ones get at creation."""

from django.db import migrations

NAME = "Warnings and worse (default)"


def add_default_rules(apps, schema_editor):
    Organization = apps.get_model("organizations", "Organization")
    AlertRule = apps.get_model("alerts", "AlertRule")
    for org_id in Organization.objects.values_list("pk", flat=True):
        AlertRule.objects.get_or_create(
            organization_id=org_id, name=NAME, defaults={"event_kinds": ["*"], "min_level": "warning"}
        )


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial"), ("organizations", "0001_initial")]

    operations = [migrations.RunPython(add_default_rules, migrations.RunPython.noop)]
