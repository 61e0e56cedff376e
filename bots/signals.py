"""Signals the apps above `bots` (alerts, metrics, fault-injection tests) listen to: bots announces,
they react, and bots imports none of them."""

from django.dispatch import Signal

# Sent at each step of placing an order, with `step` and `client_order_id`:
# before_save, after_save (saved, not yet sent), after_send (the exchange answered), before_commit
# (the answer is applied but not yet committed).
order_placement_step = Signal()

# Sent with `events`, a list of BotEvents written in bulk (bulk_create, COPY), which send no
# post_save of their own. The alert rules listen to it and to post_save on BotEvent.
events_written = Signal()
