"""Money and quantity fields: Decimal everywhere, one precision for the whole project."""

from django.db import models

# 38 digits with 18 after the point holds both a BTC price in satoshi-scale and an 18-decimal
# token amount exactly.
MONEY_MAX_DIGITS = 38
MONEY_DECIMAL_PLACES = 18


def MoneyField(**kwargs) -> models.DecimalField:  # noqa: N802 - reads like a field class
    kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
    kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
    return models.DecimalField(**kwargs)
