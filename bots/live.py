"""Live updates: after a write commits, tell each organization's listeners what changed.

Every organization has one channel-layer group, `org.<id>`; each server process that has a
socket streaming the organization joins it (dashboard.consumers). A message is a list of ready-made JSON frames
`{"kind": <kind>, "organization": <id>, <kind>: {...}}` (protocol in docs/live.md), so a
consumer forwards it as it is: no database query and no encoding per client. Payloads carry
no secrets; money is a string.

Frames are sent only once the transaction that wrote them commits (a rolled-back write sends
nothing). Inside `collecting()` (or a function decorated with `batched`) every frame of the call
waits until the call ends and goes out as one group_send per organization, the latest frame of
each object replacing an earlier one. Publishing never fails the write it follows: a missing or
broken channel layer is logged and skipped.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Sum

logger = logging.getLogger(__name__)

# The channel-layer message: {"type": MESSAGE_TYPE, "organization": id, "frames": [text, ...]}.
MESSAGE_TYPE = "live.frames"
ZERO = Decimal("0")
T = TypeVar("T", bound=Callable[..., Any])


def group_for(organization_id: int) -> str:
    return f"org.{organization_id}"


# -- payloads ---------------------------------------------------------------------------------------
def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _time(value) -> str | None:
    return None if value is None else value.isoformat()


def bot_payload(bot, *, realized_pnl: Decimal | None = None) -> dict[str, Any]:
    """A bot's status line. `realized_pnl` is the bot's realized profit net of fees over all its
    positions; without it the attribute of that name (an annotation) is used, else zero."""
    pnl = realized_pnl if realized_pnl is not None else getattr(bot, "realized_pnl", None)
    return {
        "id": bot.pk,
        "name": bot.name,
        "status": bot.status,
        "status_reason": bot.last_error or "",
        "last_heartbeat_at": _time(bot.last_heartbeat_at),
        "tick_count": bot.tick_count,
        "realized_pnl": _money(pnl if pnl is not None else ZERO),
    }


def order_payload(order) -> dict[str, Any]:
    return {
        "id": order.pk,
        "bot": order.bot_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "status": order.status,
        "price": _money(order.price),
        "amount": _money(order.amount),
        "filled": _money(order.filled),
        "average": _money(order.average),
        "reduce_only": order.reduce_only,
        "trigger_price": _money(order.trigger_price),
        "trigger_kind": order.trigger_kind,
        "tag": order.tag,
        "created_at": _time(order.created_at),
        "updated_at": _time(order.updated_at),
    }


def fill_payload(fill) -> dict[str, Any]:
    return {
        "id": fill.pk,
        "order": fill.order_id,
        "bot": fill.bot_id,
        "symbol": fill.symbol,
        "side": fill.side,
        "price": _money(fill.price),
        "amount": _money(fill.amount),
        "fee": _money(fill.fee),
        "fee_currency": fill.fee_currency,
        "liquidation": fill.liquidation,
        "ts": _time(fill.ts),
    }


def position_payload(position) -> dict[str, Any]:
    return {
        "id": position.pk,
        "bot": position.bot_id,
        "symbol": position.symbol,
        "quantity": _money(position.quantity),
        "average_entry_price": _money(position.average_entry_price),
        "realized_pnl": _money(position.realized_pnl),
        "funding": _money(position.funding),
        "mark_price": _money(position.mark_price),
        "unrealized_pnl": _money(position.unrealized_pnl),
        "liquidation_price": _money(position.liquidation_price),
        "margin_used": _money(position.margin_used),
        "closed_at": _time(position.closed_at),
    }


def event_payload(event) -> dict[str, Any]:
    # `data` and the actor stay out: the event log page shows them to those who open it.
    return {
        "id": event.pk,
        "bot": event.bot_id,
        "level": event.level,
        "kind": event.kind,
        "message": event.message,
        "created_at": _time(event.created_at),
    }


def frame(organization_id: int, kind: str, payload: Mapping[str, Any]) -> str:
    """One protocol frame as JSON text (Decimals as strings, times as ISO 8601)."""
    return json.dumps(
        {"kind": kind, "organization": organization_id, kind: payload}, cls=DjangoJSONEncoder, separators=(",", ":")
    )


# -- sending ----------------------------------------------------------------------------------------
class _Sender:
    """One event loop thread per process sends the frames, in order, off the caller's thread:
    a write pays a queue append (microseconds), not a Redis round trip and an event loop (about
    2 ms with async_to_sync), and a slow or missing Redis never holds a transaction's caller."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.idle = threading.Event()
        self.idle.set()
        self.pending = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._run, name="live-updates", daemon=True).start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        while True:
            frames = await self.queue.get()
            try:
                layer = get_channel_layer()
                if layer is not None:
                    await _group_send_all(layer, frames)
            except Exception:  # a live update must never break anything else
                logger.warning("Live update for organization(s) %s not sent", sorted(frames), exc_info=True)
            with self.lock:
                self.pending -= 1
                if not self.pending:
                    self.idle.set()

    def submit(self, frames: dict[int, list[str]]) -> None:
        with self.lock:
            self.pending += 1
            self.idle.clear()
        self.loop.call_soon_threadsafe(self.queue.put_nowait, frames)

    def wait(self, timeout: float) -> bool:
        return self.idle.wait(timeout)


_sender: _Sender | None = None
_sender_lock = threading.Lock()


def _get_sender() -> _Sender:
    global _sender
    # A forked worker (Celery prefork) inherits no running thread: it starts its own.
    if _sender is None or _sender.pid != os.getpid():
        with _sender_lock:
            if _sender is None or _sender.pid != os.getpid():
                _sender = _Sender()
    return _sender


async def _group_send_all(layer, frames: Mapping[int, list[str]]) -> None:
    for organization_id, texts in frames.items():
        await layer.group_send(
            group_for(organization_id), {"type": MESSAGE_TYPE, "organization": organization_id, "frames": texts}
        )


def send_frames(frames: Mapping[int, list[str]]) -> None:
    """Send soon, in order, one group_send per organization (call it after commit)."""
    frames = {org: list(texts) for org, texts in frames.items() if texts}
    if not frames:
        return
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        if isinstance(layer, InMemoryChannelLayer):
            # Development: one process whose queues belong to the server's event loop, so send
            # from that loop (async_to_sync runs there when called from a request's thread).
            async_to_sync(_group_send_all)(layer, frames)
        else:
            _get_sender().submit(frames)
    except Exception:  # a live update must never break the write it reports
        logger.warning("Live update for organization(s) %s not sent", sorted(frames), exc_info=True)


def wait_sent(timeout: float = 5.0) -> bool:
    """Block until every frame handed over so far has been passed to the channel layer (a short
    process, such as a command, calls this before it exits). False on timeout."""
    return _sender is None or _sender.pid != os.getpid() or _sender.wait(timeout)


atexit.register(wait_sent, 2.0)


class _Collector:
    """The frames of one `collecting()` block: (organization, kind, id) -> frame, so an object
    changed twice in one call is sent once, as it ended up, in the place of its last change."""

    def __init__(self) -> None:
        self.frames: dict[tuple, tuple[int, str]] = {}
        self.flushed = False

    def add(self, key: tuple, organization_id: int, text: str) -> None:
        if self.flushed:  # a frame that committed after the block ended: send it on its own
            send_frames({organization_id: [text]})
            return
        self.frames.pop(key, None)
        self.frames[key] = (organization_id, text)

    def flush(self) -> None:
        self.flushed = True
        by_org: dict[int, list[str]] = {}
        for organization_id, text in self.frames.values():
            by_org.setdefault(organization_id, []).append(text)
        self.frames = {}
        send_frames(by_org)


_local = threading.local()


def _current() -> _Collector | None:
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


@contextmanager
def collecting() -> Iterator[None]:
    """Hold the frames published inside the block and send them when it ends (once committed),
    one group_send per organization. Nested blocks join the outermost one."""
    stack = _local.__dict__.setdefault("stack", [])
    if stack:
        yield
        return
    collector = _Collector()
    stack.append(collector)
    try:
        yield
    finally:
        stack.pop()
        # Registered after every frame's own commit hook, so it runs after them: at once when
        # no transaction is open, else when the enclosing one commits (never if it rolls back).
        _on_commit(collector.flush)


def batched(func: T) -> T:
    """Run `func` inside `collecting()`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with collecting():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _on_commit(callback: Callable[[], None]) -> None:
    try:
        transaction.on_commit(callback)
    except Exception:
        logger.warning("Live update not scheduled", exc_info=True)


def _queue(kind: str, render: Callable[[], list[tuple[int, Any, str]]]) -> None:
    """Hand frames to the current collector once the transaction commits. `render` returns
    (organization, object key, frame) triples; it runs at commit time, so a deferred lookup
    (a bot's PnL) reads committed data. Call inside `collecting()`."""
    collector = _current()

    def deliver() -> None:
        try:
            rendered = render()
        except Exception:
            logger.warning("Live update %s not rendered", kind, exc_info=True)
            return
        for organization_id, key, text in rendered:
            collector.add((organization_id, kind, key), organization_id, text)

    _on_commit(deliver)


def _publish_objects(kind: str, objects: Iterable[Any], payload: Callable[[Any], dict[str, Any]]) -> None:
    """One frame per object, rendered now (the objects may change after this call)."""
    try:
        items = [(obj.organization_id, obj.pk, frame(obj.organization_id, kind, payload(obj))) for obj in objects]
    except Exception:
        logger.warning("Live update %s not rendered", kind, exc_info=True)
        return
    if items:
        with collecting():
            _queue(kind, lambda: items)


# -- what services call -----------------------------------------------------------------------------
def publish(organization_id: int, kind: str, **data: Any) -> None:
    """Send one frame of any kind now (call it after commit). A single keyword named like the
    kind is taken as the payload itself: publish(1, "alert", alert={...})."""
    payload = data[kind] if set(data) == {kind} and isinstance(data[kind], Mapping) else data
    try:
        text = frame(organization_id, kind, payload)
    except Exception:
        logger.warning("Live update %s for organization %s not rendered", kind, organization_id, exc_info=True)
        return
    send_frames({organization_id: [text]})


def publish_on_commit(organization_id: int, kind: str, **data: Any) -> None:
    """`publish` once the current transaction commits (at once outside one), batched with the
    rest of an enclosing `collecting()` block."""
    payload = data[kind] if set(data) == {kind} and isinstance(data[kind], Mapping) else data
    try:
        text = frame(organization_id, kind, payload)
    except Exception:
        logger.warning("Live update %s for organization %s not rendered", kind, organization_id, exc_info=True)
        return
    with collecting():
        _queue(kind, lambda: [(organization_id, object(), text)])


def _realized_pnl(bot_ids: list[int]) -> dict[int, Decimal]:
    from bots.models import Position

    rows = (
        Position.objects.filter(bot_id__in=bot_ids)
        .values("bot_id")
        .annotate(net=Sum(F("realized_pnl") - F("fees_paid") + F("funding")))
        .values_list("bot_id", "net")
    )
    return {bot_id: net or ZERO for bot_id, net in rows}


def publish_bots(bots: Iterable[Any], *, realized_pnl: Mapping[int, Decimal] | None = None) -> None:
    """Publish the bots' status lines after commit. The fields are taken now; the realized PnL,
    unless given, is read at commit time in one query for all of them."""
    snapshot = [(bot.organization_id, bot.pk, bot_payload(bot, realized_pnl=ZERO)) for bot in bots]
    if not snapshot:
        return

    def render() -> list[tuple[int, Any, str]]:
        pnl = dict(realized_pnl) if realized_pnl is not None else _realized_pnl([pk for _, pk, _ in snapshot])
        out = []
        for org, pk, payload in snapshot:
            payload["realized_pnl"] = _money(pnl.get(pk, ZERO))
            out.append((org, pk, frame(org, "bot", payload)))
        return out

    with collecting():
        _queue("bot", render)


def publish_bot(bot, *, realized_pnl: Decimal | None = None) -> None:
    """Publish one bot's status line after commit (see `publish_bots`)."""
    publish_bots([bot], realized_pnl=None if realized_pnl is None else {bot.pk: realized_pnl})


def publish_bot_ids(bot_ids: Iterable[int]) -> None:
    """Publish the status lines of bots known by id (a tick chunk): after commit, two queries
    (the bots, their realized PnL) for all of them, then one group_send per organization."""
    ids = list(bot_ids)
    if not ids:
        return

    def render() -> list[tuple[int, Any, str]]:
        from bots.models import Bot

        bots = list(
            Bot.objects.filter(pk__in=ids).only(
                "id", "organization_id", "name", "status", "last_error", "last_heartbeat_at", "tick_count"
            )
        )
        pnl = _realized_pnl(ids)
        out = []
        for bot in bots:
            payload = bot_payload(bot, realized_pnl=pnl.get(bot.pk, ZERO))
            out.append((bot.organization_id, bot.pk, frame(bot.organization_id, "bot", payload)))
        return out

    with collecting():
        _queue("bot", render)


def publish_orders(orders: Iterable[Any]) -> None:
    """Publish orders as they are now, after commit (one group_send per organization)."""
    _publish_objects("order", orders, order_payload)


def publish_fills(fills: Iterable[Any]) -> None:
    _publish_objects("fill", fills, fill_payload)


def publish_positions(positions: Iterable[Any]) -> None:
    _publish_objects("position", positions, position_payload)


def publish_event(event) -> None:
    _publish_objects("event", [event], event_payload)


def publish_events(events: Iterable[Any]) -> None:
    """Events written in bulk (saved, with their ids)."""
    _publish_objects("event", events, event_payload)
