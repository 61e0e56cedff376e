"""How bots reacts to what the apps below it announce (connected in `BotsConfig.ready`)."""

from __future__ import annotations

from django.dispatch import receiver

from bots import live
from bots.services import bots_stop_for_kill_switch
from risk.signals import kill_switch_engaged
from signals.signals import signal_recorded


@receiver(kill_switch_engaged, dispatch_uid="bots.kill_switch_engaged")
def _kill_switch_engaged(sender, organization, source: str, **kwargs) -> None:
    bots_stop_for_kill_switch(organization=organization, source=source)


def signal_payload(signal) -> dict:
    """A trading signal's live frame payload (protocol in docs/live.md): no factors or reasoning,
    which the signal's page and the API show to those who open it."""
    return {
        "id": signal.pk,
        "source": signal.source_id,
        "source_name": signal.source.name,
        "exchange": signal.exchange,
        "symbol": signal.symbol,
        "timeframe": signal.timeframe,
        "side": signal.side,
        "kind": signal.kind,
        "confidence": str(signal.confidence),
        "price": None if signal.price is None else str(signal.price),
        "created_at": signal.created_at.isoformat() if signal.created_at else None,
        "valid_until": signal.valid_until.isoformat() if signal.valid_until else None,
    }


@receiver(signal_recorded, dispatch_uid="bots.live_signal_recorded")
def _signal_recorded(sender, row, **kwargs) -> None:
    # Sent after the signal's transaction committed: the frame goes out now, or with the rest of
    # an enclosing live.collecting() block.
    live.publish_on_commit(row.organization_id, "signal", signal=signal_payload(row))
