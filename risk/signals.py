"""What risk announces to the apps above it."""

from django.dispatch import Signal

# Sent once a kill switch is engaged and its audit entries are written, with `organization` (None
# for the global switch), `user` (who engaged it, or None) and `source` (the surface). `bots`
# stops every bot the switch covers.
kill_switch_engaged = Signal()
