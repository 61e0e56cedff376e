"""JSON for API responses, written by orjson: the same document DRF's JSONRenderer writes for our
payloads (compact, UTF-8, strict), several times faster on list pages."""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_FALLBACK = JSONEncoder()


def _default(value: Any) -> Any:
    """Types orjson does not write natively (Decimal, lazy strings, querysets...) as DRF would."""
    return _FALLBACK.default(value)


class FastJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if data is None:
            return b""
        if accepted_media_type and "indent" in accepted_media_type:
            # Asked for an indented document: DRF's own renderer handles the parameters.
            return JSONRenderer().render(data, accepted_media_type, renderer_context)
        # OPT_PASSTHROUGH_DATETIME: times go through DRF's encoder, as they would under DRF.
        body = orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS)
        if b"\xe2\x80\xa8" in body or b"\xe2\x80\xa9" in body:
            # Like DRF: the two line separators JavaScript does not allow in string literals.
            body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return body
