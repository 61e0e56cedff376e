from django.apps import AppConfig


class DexConfig(AppConfig):
    name = "dex"
    verbose_name = "DEX trading (Hummingbot Gateway)"

    def ready(self) -> None:
        from dex import exchange
        from dex.models import DEX_LIVE, DEX_PAPER
        from exchanges.venues import ExternalVenue, venue_register

        venue_register(ExternalVenue(DEX_LIVE, "Jupiter (Solana, via Gateway)", exchange.live_client, has_volume=False))
        venue_register(
            ExternalVenue(
                DEX_PAPER, "Jupiter paper (Gateway quotes)", exchange.paper_client, simulated=True, has_volume=False
            )
        )
