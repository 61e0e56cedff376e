"""Login attempt limits for the dashboard and admin sign-in forms.

After `LOGIN_RATE_LIMIT_ATTEMPTS` failed attempts for one username, or from one address, within
`LOGIN_RATE_LIMIT_WINDOW_SECONDS`, further attempts are refused without checking the password
until the window ends; the page answers 429. A successful sign-in clears both counters.

Counters live in Django's cache (Redis when `REDIS_URL` is set), so every web process shares them.
The address is REMOTE_ADDR: a forwarded-for header is the client's to write, so it is not trusted.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse

TOO_MANY = "too_many_attempts"


def _limits() -> tuple[int, int]:
    return settings.LOGIN_RATE_LIMIT_ATTEMPTS, settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS


def _keys(*, username: str, ip: str) -> list[str]:
    # Hashed: a username is user input and may hold anything; casefolded so case changes do not
    # buy fresh attempts.
    user = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return [f"login-fail:user:{user}", f"login-fail:ip:{ip}"]


def client_ip(request: HttpRequest | None) -> str:
    return (request.META.get("REMOTE_ADDR") if request is not None else None) or "unknown"


def login_wait_seconds(*, username: str, ip: str) -> int:
    """Seconds until another attempt is allowed for this username and address (0: allowed now)."""
    attempts, window = _limits()
    keys = _keys(username=username, ip=ip)
    stored = cache.get_many([f"{k}:n" for k in keys] + [f"{k}:t" for k in keys])
    wait = 0.0
    for key in keys:
        if (stored.get(f"{key}:n") or 0) >= attempts:
            started = stored.get(f"{key}:t") or time.time()
            wait = max(wait, started + window - time.time(), 1)
    return math.ceil(wait)


def login_failed(*, username: str, ip: str) -> None:
    """Count a failed attempt against the username and the address. The window starts at the first
    failure, so the refusal lasts at most one window."""
    _, window = _limits()
    now = time.time()
    for key in _keys(username=username, ip=ip):
        cache.add(f"{key}:t", now, timeout=window)
        cache.add(f"{key}:n", 0, timeout=window)
        try:
            cache.incr(f"{key}:n")
        except ValueError:  # expired between add and incr
            cache.set(f"{key}:n", 1, timeout=window)


def login_succeeded(*, username: str, ip: str) -> None:
    keys = _keys(username=username, ip=ip)
    cache.delete_many([f"{k}:n" for k in keys] + [f"{k}:t" for k in keys])


class RateLimitedLoginMixin(forms.Form):
    """For AuthenticationForm and its subclasses: refuses early while the limit holds, counts failures."""

    request: HttpRequest | None
    user_cache: object
    rate_limited = False

    def clean(self) -> dict:
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request)
        wait = login_wait_seconds(username=username, ip=ip)
        if wait:
            minutes = math.ceil(wait / 60)
            self.rate_limited = True
            raise ValidationError(
                "Too many attempts, try again in %(minutes)d minute%(plural)s.",
                code=TOO_MANY,
                params={"minutes": minutes, "plural": "" if minutes == 1 else "s"},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            if username and self.cleaned_data.get("password"):
                login_failed(username=username, ip=ip)
            raise
        if self.user_cache is not None:
            login_succeeded(username=username, ip=ip)
        return cleaned


class RateLimitedAuthenticationForm(RateLimitedLoginMixin, AuthenticationForm):
    """The dashboard's sign-in form."""


class RateLimitedAdminAuthenticationForm(RateLimitedLoginMixin, AdminAuthenticationForm):
    """The admin's sign-in form (staff only, as Django's)."""


def login_rate_limited(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a login view whose form is rate limited: a refused attempt answers 429."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if form is not None and form.is_bound and form.has_error(NON_FIELD_ERRORS, TOO_MANY):
            response.status_code = 429
        return response

    return wrapped
