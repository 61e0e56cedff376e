"""`manage.py strategies`: the list, one schema, and an unknown key."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def test_lists_every_builtin():
    out = StringIO()
    call_command("strategies", stdout=out)
    keys = [line.split()[0] for line in out.getvalue().splitlines()]
    assert keys == sorted(
        [
            "arbitrage",
            "cex_dex_arbitrage",
            "grid",
            "macd_trend",
            "momentum_reentry",
            "pure_market_making",
            "rsi_bb_atr",
            "signal_follower",
        ]
    )


def test_prints_a_parameter_schema():
    out = StringIO()
    call_command("strategies", schema="rsi_bb_atr", stdout=out)
    schema = json.loads(out.getvalue())
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["properties"]["rsi_period"] == {
        "type": "integer",
        "description": "RSI length.",
        "default": 14,
        "minimum": 2,
        "maximum": 100,
    }


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(CommandError, match="Unknown strategy 'nope'"):
        call_command("strategies", schema="nope")
