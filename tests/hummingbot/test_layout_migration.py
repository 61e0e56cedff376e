"""Upgrading a database from the layout where Hummingbot lived inside `bots`.

Instances and deployments used to be `bots` models (tables `bots_hummingbot*`). The migrations
hand them to the `hummingbot` app without copying a row: this test rolls a real database back to
that layout, fills it through the old models, migrates forward and finds everything again.
"""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from bots.models import Bot
from hummingbot.models import DeploymentStatus, HummingbotDeployment, HummingbotInstance
from tests.factories import ExchangeAccountFactory

BEFORE = [("bots", "0007_order_bot_open_index"), ("hummingbot", None)]


def tables() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


@pytest.fixture
def previous_layout():
    """The database as it was before the move; migrated forward again whatever the test does."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    yield executor.loader.project_state([BEFORE[0]]).apps
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_deployments_of_the_previous_layout_survive_the_move(previous_layout):
    old = previous_layout
    assert {"bots_hummingbotinstance", "bots_hummingbotdeployment"} <= tables()
    assert not {"hummingbot_hummingbotinstance", "hummingbot_hummingbotdeployment"} & tables()

    old_instance = old.get_model("bots", "HummingbotInstance")
    old_deployment = old.get_model("bots", "HummingbotDeployment")
    # Bots are written through the old models too: today's Bot has columns that layout lacks.
    old_bot = old.get_model("bots", "Bot")
    bots = [
        old_bot.objects.create(
            organization_id=account.organization_id,
            exchange_account_id=account.pk,
            name=f"Bot {i}",
            strategy="grid",
            params={},
            symbol="BTC/USDT",
            execution="hummingbot",
        )
        for i, account in enumerate(ExchangeAccountFactory() for _ in range(3))
    ]
    instances = [
        old_instance.objects.create(
            organization_id=bots[0].organization_id, name=f"hb-{i}", instance_id=f"id-{i}", status="online", capacity=2
        )
        for i in range(2)
    ]
    for i, bot in enumerate(bots):
        if bot.organization_id != bots[0].organization_id:
            instance = old_instance.objects.create(
                organization_id=bot.organization_id, name="own", instance_id=f"own-{i}", status="offline"
            )
        else:
            instance = instances[i % 2]
        old_deployment.objects.create(
            organization_id=bot.organization_id,
            bot_id=bot.pk,
            instance_id=instance.pk,
            strategy_name="pure_market_making",
            config_file=f"conf_pmm_{i}.yml",
            rendered_config=f"exchange: binance\nbid_spread: 0.{i + 1}\n",
            files=[["strategies", f"conf_pmm_{i}.yml", "x: 1\n"]],
            commands={"import": f"conf_pmm_{i}"},
            config_version=i + 1,
            status="running",
            last_status_payload={"msg": f"running {i}"},
        )
    before_instances = {
        row["pk"]: row
        for row in old_instance.objects.values("pk", "organization_id", "name", "instance_id", "status", "capacity")
    }
    before_deployments = {
        row["pk"]: row
        for row in old_deployment.objects.values(
            "pk", "bot_id", "instance_id", "rendered_config", "files", "commands", "config_version", "status"
        )
    }
    # A permission granted on the old model must still be granted on the moved one.
    old_type = ContentType.objects.get(app_label="bots", model="hummingbotinstance")
    operators = Group.objects.create(name="hb operators")
    operators.permissions.add(Permission.objects.get(content_type=old_type, codename="change_hummingbotinstance"))

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()

    assert {"hummingbot_hummingbotinstance", "hummingbot_hummingbotdeployment"} <= tables()
    assert not {"bots_hummingbotinstance", "bots_hummingbotdeployment"} & tables()
    after_instances = {
        row["pk"]: row
        for row in HummingbotInstance.objects.values(
            "pk", "organization_id", "name", "instance_id", "status", "capacity"
        )
    }
    after_deployments = {
        row["pk"]: row
        for row in HummingbotDeployment.objects.values(
            "pk", "bot_id", "instance_id", "rendered_config", "files", "commands", "config_version", "status"
        )
    }
    assert after_instances == before_instances
    assert after_deployments == before_deployments
    assert len(after_deployments) == 3 and len(after_instances) == 4
    for bot in Bot.objects.filter(pk__in=[b.pk for b in bots]):
        assert bot.deployments.get().instance.organization_id == bot.organization_id

    moved = ContentType.objects.get_for_model(HummingbotInstance)
    assert moved.pk == old_type.pk and moved.app_label == "hummingbot"
    assert not ContentType.objects.filter(app_label="bots", model__startswith="hummingbot").exists()
    assert operators.permissions.get().content_type_id == moved.pk

    # The kept tables keep their rules: one active deployment per bot, ids go on from the last.
    with pytest.raises(IntegrityError), transaction.atomic():
        HummingbotDeployment.objects.create(
            organization_id=bots[0].organization_id,
            bot_id=bots[0].pk,
            instance_id=instances[0].pk,
            strategy_name="pure_market_making",
            config_file="again.yml",
            rendered_config="",
            status=DeploymentStatus.PENDING,
        )
    fresh = HummingbotInstance.objects.create(
        organization_id=bots[0].organization_id, name="hb-new", instance_id="id-new"
    )
    assert fresh.pk > max(before_instances)
