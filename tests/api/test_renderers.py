"""The API's JSON renderer writes the same bytes DRF's own JSONRenderer writes."""

import datetime as dt
from decimal import Decimal

from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from api.renderers import FastJSONRenderer


def test_it_writes_what_drf_writes():
    data = {
        "results": [{"id": 1, "price": "1.500000000000000000", "name": "BTC trend \u2013 ünïcode", "none": None}],
        "amount": Decimal("2.25"),
        "at": dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        "day": dt.date(2024, 1, 2),
        "message": gettext_lazy("Not found."),
        "keys": {1: "one", "two": [True, False, 1.5]},
        "separators": "a\u2028b\u2029c",
        "nested": {"empty": [], "obj": {}},
    }
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)
    assert FastJSONRenderer().render(None) == JSONRenderer().render(None) == b""
