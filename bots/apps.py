from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = "Bots"

    def ready(self) -> None:
        from bots import receivers  # noqa: F401 - connects the receivers
        from bots.services import bot_event_record
        from core.events import event_writer_install

        # The apps below bots (exchanges, risk) write to the event log through core.events.
        event_writer_install(bot_event_record)
