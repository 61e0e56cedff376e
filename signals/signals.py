"""Django signals of the signals app (the name is Django's; a trading signal is `models.Signal`)."""

from django.dispatch import Signal as DjangoSignal

# Sent once the transaction that stored a trading signal commits: `row` is the Signal (not
# `signal`, the name Django gives the dispatching signal itself).
signal_recorded = DjangoSignal()
