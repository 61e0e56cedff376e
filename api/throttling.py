"""Throttles: per user for sessions, per key prefix for API keys, per address for anonymous calls.

Rates are read from settings at request time (DRF binds them at import), so tests can override them.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from organizations.models import ApiKey


class _Throttle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class ApiKeyRateThrottle(_Throttle):
    scope = "api_key"

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}


class UserRateThrottle(_Throttle):
    scope = "user"

    def get_cache_key(self, request, view) -> str | None:
        if isinstance(request.auth, ApiKey) or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AnonRateThrottle(_Throttle):
    scope = "anon"

    def get_cache_key(self, request, view) -> str | None:
        if isinstance(request.auth, ApiKey) or request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
