"""Live updates: after a write commits, tell each organization's listeners what changed.

Every organization has one channel-layer group, `org.<id>`; the WebSocket consumers of its
members join it. A message names what changed (kind, bot ids, instance ids), never secrets; a
listener reads the details through the same scoped selectors as a page. Publishing never fails
the write it follows: a missing or broken channel layer is logged and skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def group_for(organization_id: int) -> str:
    return f"org.{organization_id}"


def publish(organization_id: int, kind: str, **data: Any) -> None:
    """Send now (call it after commit)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_for(organization_id), {"type": "live.update", "kind": kind, **data})
    except Exception:  # a live update must never break the write it reports
        logger.warning("Live update %s for organization %s not sent", kind, organization_id, exc_info=True)


def publish_on_commit(organization_id: int, kind: str, **data: Any) -> None:
    """Send once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish(organization_id, kind, **data))
