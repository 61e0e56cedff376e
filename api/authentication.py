"""API key authentication: `Authorization: Api-Key <prefix>.<secret>`.

A key acts for its organization only; `request.user` stays anonymous and `request.auth` is the
ApiKey, so nothing can mistake a key for a member of some other organization.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions

from organizations.models import ApiKey

KEYWORD = "Api-Key"
# last_used_at is informative: write it at most once a minute per key.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request) -> tuple[AnonymousUser, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, credentials = header.partition(" ")
        if keyword != KEYWORD:
            return None
        prefix, dot, secret = credentials.strip().partition(".")
        if not dot or not prefix or not secret:
            raise exceptions.AuthenticationFailed("Malformed API key: send Api-Key <prefix>.<secret>.")
        key = ApiKey.objects.select_related("organization").filter(prefix=prefix).first()
        # The same answer for an unknown prefix and a wrong secret.
        if key is None or not key.check_secret(secret):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        now = timezone.now()
        if key.expires_at is not None and key.expires_at <= now:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        if not key.organization.is_active:
            raise exceptions.AuthenticationFailed("The organization of this API key is inactive.")
        if key.last_used_at is None or key.last_used_at <= now - LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
            ).update(last_used_at=now)
            key.last_used_at = now
        return AnonymousUser(), key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing or refused.
        return KEYWORD
