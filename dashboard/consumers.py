"""The live-update WebSocket (`ws/live/`): streams what changes in the caller's organizations.

Who may connect: a signed-in member (the session cookie; browsers) or an organization's API key
with the read scope (`Authorization: Api-Key <prefix>.<secret>` on the handshake; never in the
URL, where proxies log it). A member of any role reads everything of their organizations, so
the socket gets what is published to `org.<id>` for each of them (the key: its one
organization), forwarded as it is. `?organization=<id>` narrows the stream to one of them.

Close codes: 4401 not authenticated (no session, or a key that is unknown, revoked, expired or
lacks the read scope); 4403 the organization asked for is not one of the caller's.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.http import HttpRequest
from rest_framework.exceptions import AuthenticationFailed

from api.authentication import KEYWORD, ApiKeyAuthentication
from bots.live import MESSAGE_TYPE, frame, group_for
from organizations.models import ApiKeyScope, Membership

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# Scope key of the ASGI server's own `send` (dashboard.routing.transport_send_kept).
TRANSPORT_SEND = "live.transport_send"


def authorization_header(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return value.decode("latin-1")
    return None


@database_sync_to_async
def organizations_for_api_key(authorization: str) -> list[int] | None:
    """The key's organization, through the REST API's own key check (unknown, revoked, expired,
    inactive organization; last-used time kept); None when refused or without the read scope."""
    try:
        handshake = HttpRequest()  # what the authentication reads of a request: its headers
        handshake.META["HTTP_AUTHORIZATION"] = authorization
        result = ApiKeyAuthentication().authenticate(handshake)
    except AuthenticationFailed:
        return None
    if result is None:
        return None
    key = result[1]
    if ApiKeyScope.READ not in key.scopes:
        return None
    return [key.organization_id]


@database_sync_to_async
def organizations_for_user(user) -> list[int] | None:
    if user is None or not user.is_authenticated:
        return None
    return list(Membership.objects.filter(user_id=user.pk).values_list("organization_id", flat=True))


class _Hub:
    """The one channel-layer subscription of an event loop (a server process) for all its sockets.

    The hub's channel joins `org.<id>` while at least one local socket streams that organization,
    and hands each message to those sockets' outboxes. A group message thus costs one Redis
    message per server process and one queue append per socket. (Joining every socket's own
    channel to the group would make channels-redis wake each socket's receive loop, which
    contend on one lock: with 1,000 sockets in a process a message took seconds to get through.)
    """

    # channels-redis forgets group members after a day (`group_expiry`): join again well before.
    REFRESH_SECONDS = 3600

    def __init__(self, layer) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.members: dict[int, set[LiveConsumer]] = {}
        self.lock = asyncio.Lock()
        self.tasks: list[asyncio.Task] = []

    async def join(self, consumer: LiveConsumer, organizations: list[int]) -> None:
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
                self.tasks = [asyncio.ensure_future(self._receive()), asyncio.ensure_future(self._refresh())]
            for organization_id in organizations:
                members = self.members.setdefault(organization_id, set())
                if not members:
                    await self.layer.group_add(group_for(organization_id), self.channel)
                members.add(consumer)

    async def leave(self, consumer: LiveConsumer, organizations: list[int]) -> None:
        async with self.lock:
            for organization_id in organizations:
                members = self.members.get(organization_id)
                if members is None:
                    continue
                members.discard(consumer)
                if not members:
                    del self.members[organization_id]
                    await self.layer.group_discard(group_for(organization_id), self.channel)

    async def _receive(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Live updates: channel layer receive failed; retrying", exc_info=True)
                await asyncio.sleep(0.1)
                continue
            self._deliver(message)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.REFRESH_SECONDS)
            async with self.lock:
                for organization_id in list(self.members):
                    await self.layer.group_add(group_for(organization_id), self.channel)

    def _deliver(self, message: dict) -> None:
        organization_id = message.get("organization")
        if message.get("type") == MESSAGE_TYPE:
            texts = message.get("frames") or []
        else:
            # Sent straight to the group as {"type": "live.update", "organization", "kind", fields}.
            kind = message.get("kind", "")
            data = {k: v for k, v in message.items() if k not in ("type", "kind", "organization")}
            try:
                texts = [frame(organization_id, kind, data[kind] if set(data) == {kind} else data)]
            except (TypeError, ValueError):
                logger.warning("Live update %s not forwarded: not JSON", kind)
                return
        for consumer in list(self.members.get(organization_id, ())):
            consumer.post(texts)


_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def hub() -> _Hub:
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = _Hub(get_channel_layer())
    return found


class LiveConsumer(AsyncWebsocketConsumer):
    """Forwards the live frames of the caller's organizations; reads nothing per message."""

    # No channel of its own: the process's hub receives for every socket.
    channel_layer_alias = None
    # Frames waiting for a client that does not read: past this, it is closed (it reconnects
    # and reloads) rather than held in memory.
    MAX_BACKLOG = 1000
    CLOSE_TOO_SLOW = 1013

    async def connect(self) -> None:
        self.organizations: list[int] = []
        self.writer: asyncio.Task | None = None
        self.too_slow = False
        authorization = authorization_header(self.scope)
        if authorization is not None and authorization.partition(" ")[0] == KEYWORD:
            # An API key decides alone: a bad key is refused even when a session cookie came along.
            organizations = await organizations_for_api_key(authorization)
        else:
            organizations = await organizations_for_user(self.scope.get("user"))
        if organizations is None:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        wanted = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("organization")
        if wanted:
            organization_id = int(wanted[-1]) if wanted[-1].isdigit() else None
            if organization_id not in organizations:
                await self._refuse(CLOSE_FORBIDDEN)
                return
            organizations = [organization_id]
        # Frames go straight to the server: no middleware below has anything to do with them.
        self.transport_send = self.scope.get(TRANSPORT_SEND) or self.base_send
        self.outbox: asyncio.Queue = asyncio.Queue(self.MAX_BACKLOG)
        self.writer = asyncio.ensure_future(self._write())
        # Join before accepting: once the client sees the socket open, nothing published is missed.
        self.organizations = organizations
        await hub().join(self, organizations)
        await self.accept()

    async def _refuse(self, code: int) -> None:
        """Accept, then close with an application code the client can read (a refused handshake
        only says 403)."""
        await self.accept()
        await self.close(code=code)

    def post(self, texts: list[str]) -> None:
        """Called by the hub for each message of the socket's organizations."""
        try:
            self.outbox.put_nowait(texts)
        except asyncio.QueueFull:
            if not self.too_slow:
                self.too_slow = True
                self.writer.cancel()
                self.writer = asyncio.ensure_future(self.close(code=self.CLOSE_TOO_SLOW))

    async def _write(self) -> None:
        try:
            send = self.transport_send
            while True:
                texts = await self.outbox.get()
                for text in texts:
                    await send({"type": "websocket.send", "text": text})
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away under us: disconnect() cleans up
            logger.debug("Live socket write failed", exc_info=True)

    async def disconnect(self, code) -> None:
        if self.organizations:
            await hub().leave(self, self.organizations)
        if self.writer is not None:
            self.writer.cancel()
            self.writer = None

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """The stream is one-way; what a client sends is ignored."""
