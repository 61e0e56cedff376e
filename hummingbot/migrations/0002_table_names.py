# The tables taken over from `bots` get this app's names; rows, keys and constraints are kept.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('hummingbot', '0001_initial'),
    ]

    operations = [
        migrations.AlterModelTable(name='hummingbotinstance', table=None),
        migrations.AlterModelTable(name='hummingbotdeployment', table=None),
    ]
