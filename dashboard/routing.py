"""WebSocket routes. The live-update consumer joins them in the surfaces issue."""

websocket_urlpatterns: list = []
