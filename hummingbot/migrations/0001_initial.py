# The Hummingbot models came from the `bots` app, whose 0008 dropped them from its state. Here
# this app takes over the existing tables as they are (no table is created, no row is copied)
# and moves their content types, so permissions granted on them stay granted. 0002 then gives
# the tables this app's names.

import django.db.models.deletion
from django.db import migrations, models

MODELS = ("hummingbotinstance", "hummingbotdeployment")


def content_types_move(apps, schema_editor, source="bots", target="hummingbot"):
    content_type = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MODELS:
        if content_type.objects.using(db).filter(app_label=target, model=model).exists():
            continue
        content_type.objects.using(db).filter(app_label=source, model=model).update(app_label=target)


def content_types_back(apps, schema_editor):
    content_types_move(apps, schema_editor, source="hummingbot", target="bots")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('bots', '0008_hummingbot_models_moved'),
        ('organizations', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='HummingbotInstance',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=120)),
                        ('instance_id', models.CharField(help_text="The instance's MQTT id (client id hbot.<id>).", max_length=120)),
                        ('namespace', models.CharField(default='hbot', max_length=64)),
                        ('status', models.CharField(choices=[('unknown', 'Unknown'), ('online', 'Online'), ('offline', 'Offline')], default='unknown', max_length=16)),
                        ('last_heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('capacity', models.PositiveIntegerField(default=1, help_text='How many strategies it may run at once.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('organization', models.ForeignKey(help_text='The customer organization this row belongs to.', on_delete=django.db.models.deletion.PROTECT, related_name='%(class)ss', to='organizations.organization')),
                    ],
                    options={
                        'ordering': ['organization__name', 'name'],
                        'db_table': 'bots_hummingbotinstance',
                    },
                ),
                migrations.CreateModel(
                    name='HummingbotDeployment',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('strategy_name', models.CharField(help_text='Hummingbot strategy or V2 script.', max_length=64)),
                        ('config_file', models.CharField(help_text="File name in the instance's conf folder.", max_length=200)),
                        ('rendered_config', models.TextField(help_text='The YAML sent to the instance.')),
                        ('files', models.JSONField(blank=True, default=list, help_text='Every file of the config as [folder under conf/, name, text].')),
                        ('commands', models.JSONField(blank=True, default=dict, help_text='What deploying sends: /import name, /config params, /start fields.')),
                        ('config_version', models.PositiveIntegerField(default=1)),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('deploying', 'Deploying'), ('running', 'Running'), ('stopping', 'Stopping'), ('stopped', 'Stopped'), ('failed', 'Failed'), ('unknown', 'Unknown (no answer)')], default='pending', max_length=16)),
                        ('last_status_payload', models.JSONField(blank=True, default=dict)),
                        ('last_command', models.CharField(blank=True, max_length=32)),
                        ('last_command_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('bot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deployments', to='bots.bot')),
                        ('organization', models.ForeignKey(help_text='The customer organization this row belongs to.', on_delete=django.db.models.deletion.PROTECT, related_name='%(class)ss', to='organizations.organization')),
                        ('instance', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='deployments', to='hummingbot.hummingbotinstance')),
                    ],
                    options={
                        'ordering': ['-created_at'],
                        'db_table': 'bots_hummingbotdeployment',
                    },
                ),
                migrations.AddConstraint(
                    model_name='hummingbotinstance',
                    constraint=models.UniqueConstraint(fields=('namespace', 'instance_id'), name='hbinstance_unique_topic'),
                ),
                migrations.AddConstraint(
                    model_name='hummingbotinstance',
                    constraint=models.UniqueConstraint(fields=('organization', 'name'), name='hbinstance_unique_name'),
                ),
                migrations.AddConstraint(
                    model_name='hummingbotinstance',
                    constraint=models.CheckConstraint(condition=models.Q(('capacity__gte', 1)), name='hbinstance_capacity_positive'),
                ),
                migrations.AddConstraint(
                    model_name='hummingbotdeployment',
                    constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['stopped', 'failed']), _negated=True), fields=('bot',), name='hbdeployment_one_active_per_bot'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_move, content_types_back),
    ]
