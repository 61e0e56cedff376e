from django.apps import AppConfig


class HummingbotAppConfig(AppConfig):
    """Bots run on Hummingbot instances over MQTT: the config converter, instances and
    deployments, the commands, the bridge and failover."""

    name = "hummingbot"
    verbose_name = "Hummingbot"

    def ready(self) -> None:
        from bots.engines import engine_register
        from bots.models import BotExecution
        from hummingbot.engine import HummingbotEngine

        engine_register(BotExecution.HUMMINGBOT, HummingbotEngine())
