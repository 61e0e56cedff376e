"""Signals other parts of the system (metrics, tracing, fault-injection tests) can listen to."""

from django.dispatch import Signal

# Sent at each step of placing an order, with `step` and `client_order_id`:
# before_save, after_save (saved, not yet sent), after_send (the exchange answered), before_commit
# (the answer is applied but not yet committed).
order_placement_step = Signal()
