"""WebSocket routes and the origin check in front of them."""

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from dashboard.consumers import TRANSPORT_SEND, LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
]


def transport_send_kept(application):
    """Keeps the server's own `send` in the scope under TRANSPORT_SEND, for the live consumer's
    frames. Channels' session middleware wraps `send` to save the session on HTTP responses and
    checks the (lazy) session on every message it passes, a websocket.send included; for a socket
    that forwards each frame to hundreds of clients that check was a good part of the fan-out."""

    async def app(scope, receive, send):
        return await application({**scope, TRANSPORT_SEND: send}, receive, send)

    return app


def origin_checked(application):
    """AllowedHostsOriginValidator in front of `application`, with one exception: a handshake
    with no Origin header that carries an API key goes through (integrations send no Origin;
    browsers always do, so a page on another site cannot use it). The consumer then accepts that
    connection by the key alone, never by a cookie."""
    validated = AllowedHostsOriginValidator(application)

    async def app(scope, receive, send):
        names = {name for name, _ in scope.get("headers", [])}
        if b"origin" not in names:
            for name, value in scope.get("headers", []):
                if name == b"authorization" and value.startswith(b"Api-Key "):
                    return await application(scope, receive, send)
        return await validated(scope, receive, send)

    return app
