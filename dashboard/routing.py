"""WebSocket routes and the origin check in front of them."""

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from dashboard.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
]


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
