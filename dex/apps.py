from django.apps import AppConfig


class DexConfig(AppConfig):
    name = "dex"
    verbose_name = "DEX trading (Hummingbot Gateway)"
