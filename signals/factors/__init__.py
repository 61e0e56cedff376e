"""The factors a signal is made of, each a pure function of closed candles (`strategies.base.Bars`).

Every factor answers a `FactorResult` (see `base.py`); the engine (`signals.engine`) blends them
into one side and confidence. docs/signals.md documents each factor.
"""
