from django.apps import AppConfig


class ChatopsConfig(AppConfig):
    name = "chatops"
    verbose_name = "Telegram control"

    def ready(self) -> None:
        from alerts.transports import TRANSPORTS
        from chatops.alerts import LinkedMembersTransport

        TRANSPORTS[LinkedMembersTransport.kind] = LinkedMembersTransport
