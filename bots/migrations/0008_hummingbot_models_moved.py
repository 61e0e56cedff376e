# Hummingbot instances and deployments moved to the `hummingbot` app. Only Django's model state
# changes here: the tables and their rows stay, and hummingbot's 0001 takes them over.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('bots', '0007_order_bot_open_index'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='HummingbotDeployment'),
                migrations.DeleteModel(name='HummingbotInstance'),
            ],
            database_operations=[],
        ),
    ]
