"""Plain Django views of analytics: the Prometheus scrape and the trade export. They check who is
asking, call selectors, and hold no rules."""

from __future__ import annotations

import datetime as dt
import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from analytics.prometheus import exposition
from analytics.selectors import trades_csv
from bots.models import Bot


def _metrics_allowed(request: HttpRequest) -> bool:
    """A bearer token equal to METRICS_TOKEN (Prometheus), or a signed-in staff member."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())
    return bool(request.user.is_authenticated and request.user.is_staff)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus scrape target (`/metrics`)."""
    if not _metrics_allowed(request):
        return HttpResponseForbidden("Forbidden\n", content_type="text/plain")
    return HttpResponse(
        exposition(multiprocess_dir=settings.PROMETHEUS_MULTIPROC_DIR), content_type=CONTENT_TYPE_LATEST
    )


def _moment(value: str | None, *, default: dt.datetime, name: str) -> dt.datetime:
    """An ISO date or date-time from the query string (a date means its 00:00 UTC)."""
    if not value:
        return default
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(f"{name}: expected an ISO date or date-time, got {value!r}.")
        parsed = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=dt.UTC)


@login_required
@require_GET
def trades_export(request: HttpRequest, bot_id: int) -> HttpResponse:
    """A bot's fills (`?kind=fills`, the default) or round trips (`?kind=round_trips`) as CSV,
    between `?start=` and `?end=` (ISO dates or date-times; default: everything until now).
    Another organization's bot answers 404."""
    bot = get_object_or_404(Bot.objects.for_user(request.user), pk=bot_id)
    kind = request.GET.get("kind", "fills")
    try:
        start = _moment(request.GET.get("start"), default=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), name="start")
        end = _moment(request.GET.get("end"), default=timezone.now() + dt.timedelta(seconds=1), name="end")
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    if kind not in ("fills", "round_trips"):
        return HttpResponse("kind: use fills or round_trips.", status=400, content_type="text/plain")
    if end <= start:
        return HttpResponse("end: must be after start.", status=400, content_type="text/plain")
    response = StreamingHttpResponse(trades_csv(bot=bot, start=start, end=end, kind=kind), content_type="text/csv")
    filename = f"bot-{bot.pk}-{kind}-{start:%Y%m%d}-{end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
