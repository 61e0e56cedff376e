"""How bots reacts to what the apps below it announce (connected in `BotsConfig.ready`)."""

from __future__ import annotations

from django.dispatch import receiver

from bots.services import bots_stop_for_kill_switch
from risk.signals import kill_switch_engaged


@receiver(kill_switch_engaged, dispatch_uid="bots.kill_switch_engaged")
def _kill_switch_engaged(sender, organization, source: str, **kwargs) -> None:
    bots_stop_for_kill_switch(organization=organization, source=source)
