"""Signals: the selected organization's signals with filters, and a signal's page whose candle
chart (server-rendered SVG) overlays the factors that drew it: Fibonacci levels, support and
resistance, candlestick-pattern markers and Elliott wave labels."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError, PermissionDeniedError
from dashboard.forms import SignalDeployForm, SignalSourceForm, WatchedMarketForm
from dashboard.views.base import SOURCE, OrgContext, form_error, member_view, render_page
from exchanges.market_data import TIMEFRAME_MS
from exchanges.models import Candle
from hummingbot.signal_deploy import signal_deploy
from signals.models import Signal, SignalSide, SignalSource
from signals.selectors import signal_evaluation
from signals.services import source_create, source_update, watched_market_add, webhook_token_rotate

PAGE_ROWS = 50
CHART_BARS = 120  # candles before the signal's; a few after it when stored
CHART_AFTER = 10
W, H, PAD_L, PAD_R, PAD_Y = 900, 360, 8, 130, 16


@member_view()
def signals(request: HttpRequest, org: OrgContext) -> HttpResponse:
    sources = list(SignalSource.objects.for_organization(org.organization).order_by("name").only("id", "name"))
    rows = Signal.objects.for_organization(org.organization).select_related("source").defer("factors", "reasoning")
    filters = {k: request.GET.get(k, "").strip() for k in ("source", "symbol", "timeframe", "side")}
    if filters["source"].isdigit():
        rows = rows.filter(source_id=int(filters["source"]))
    if filters["symbol"]:
        rows = rows.filter(symbol=filters["symbol"].upper())
    if filters["timeframe"] in TIMEFRAME_MS:
        rows = rows.filter(timeframe=filters["timeframe"])
    if filters["side"] in SignalSide.values:
        rows = rows.filter(side=filters["side"])
    page = Paginator(rows, PAGE_ROWS).get_page(request.GET.get("page"))
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render_page(
        request,
        org,
        "dashboard/signals.html",
        {
            "page": page,
            "sources": sources,
            "filters": filters,
            "query": query,
            "timeframes": list(TIMEFRAME_MS),
            "sides": SignalSide.choices,
            "active": "signals",
        },
    )


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def chart_for(signal: Signal) -> dict[str, Any] | None:
    """The candles around the signal and the overlay shapes, placed in SVG coordinates; every
    shape keeps its exact price (or time) for the title and data attributes."""
    end = signal.bar_ts or signal.created_at
    step = dt.timedelta(milliseconds=TIMEFRAME_MS.get(signal.timeframe, 60_000))
    market = Candle.objects.filter(exchange=signal.exchange, symbol=signal.symbol, timeframe=signal.timeframe)
    before = list(market.filter(ts__lte=end).order_by("-ts")[:CHART_BARS])[::-1]
    after = list(market.filter(ts__gt=end, ts__lte=end + step * CHART_AFTER).order_by("ts"))
    candles = before + after
    if not candles:
        return None
    f = signal.factors or {}
    fib = f.get("fibonacci") or {}
    structure = f.get("structure") or {}
    levels = [("fib", f"Fib {k}", v) for k, v in sorted((fib.get("levels") or {}).items())]
    levels += [("ext", f"Ext {k}", v) for k, v in sorted((fib.get("extensions") or {}).items())]
    levels += [("support", "Support", v) for v in structure.get("support") or []]
    levels += [("resistance", "Resistance", v) for v in structure.get("resistance") or []]
    levels = [(c, label, float(v)) for c, label, v in levels if isinstance(v, int | float)]
    lows = [float(c.low) for c in candles] + [v for _, _, v in levels]
    highs = [float(c.high) for c in candles] + [v for _, _, v in levels]
    lo, hi = min(lows), max(highs)
    span = (hi - lo) or 1.0
    first, last = _ms(candles[0].ts), _ms(candles[-1].ts)
    slot = (W - PAD_L - PAD_R) / max(len(candles), 1)

    def x(ms: int) -> float:
        width = max(last - first, 1)
        return round(PAD_L + slot / 2 + (ms - first) / width * (W - PAD_L - PAD_R - slot), 1)

    def y(price: float) -> float:
        return round(PAD_Y + (hi - price) / span * (H - 2 * PAD_Y), 1)

    body = max(round(slot * 0.6, 1), 1)
    bars = []
    for c in candles:
        o, cl = float(c.open), float(c.close)
        bars.append(
            {
                "x": x(_ms(c.ts)),
                "left": round(x(_ms(c.ts)) - body / 2, 1),
                "wick_top": y(float(c.high)),
                "wick_bottom": y(float(c.low)),
                "top": y(max(o, cl)),
                "height": max(round(abs(y(o) - y(cl)), 1), 1),
                "up": cl >= o,
                "candle": c,
            }
        )
    in_range = (first, last)
    markers = [
        {**m, "x": x(m["ts"]), "up": m.get("direction", 0) > 0}
        for m in (f.get("patterns") or {}).get("markers") or []
        if isinstance(m.get("ts"), int) and in_range[0] <= m["ts"] <= in_range[1]
    ]
    waves = [
        {**w, "x": x(w["ts"]), "y": y(float(w["price"]))}
        for w in (f.get("elliott") or {}).get("waves") or []
        if isinstance(w.get("ts"), int) and in_range[0] <= w["ts"] <= in_range[1]
    ]
    return {
        "width": W,
        "height": H,
        "body_width": body,
        "bars": bars,
        "levels": [{"kind": c, "label": label, "price": v, "y": y(v), "x2": W - PAD_R} for c, label, v in levels],
        "markers": markers,
        "waves": waves,
        "signal_x": x(_ms(end)) if first <= _ms(end) <= last else None,
        "marker_y": H - 4,
    }


@require_http_methods(["GET", "POST"])
@member_view()
def signal_detail(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    """The signal with its chart and factors; a trader deploys it on a Hummingbot bot from here."""
    signal = get_object_or_404(Signal.objects.for_organization(org.organization).select_related("source"), pk=pk)
    deploy_form = SignalDeployForm(prefix="deploy", signal=signal)
    status = 200
    if request.method == "POST":
        deploy_form = SignalDeployForm(request.POST, prefix="deploy", signal=signal)
        if deploy_form.is_valid():
            data = dict(deploy_form.cleaned_data)
            bot = data.pop("bot")
            try:
                deployment = signal_deploy(
                    signal=signal,
                    bot=bot,
                    user=request.user,
                    source=SOURCE,
                    **{k: v for k, v in data.items() if v not in (None, "")},
                )
            except PermissionDeniedError:
                raise
            except ApplicationError as exc:
                form_error(deploy_form, exc)
            else:
                messages.success(
                    request, f"Signal deployed on {bot.name} as {deployment.strategy_name}; it starts on Hummingbot."
                )
                return redirect("dashboard:bot", pk=bot.pk)
        status = 400
    factors = sorted(
        (
            (name, v.get("score"), v.get("reason", ""))
            for name, v in (signal.factors or {}).items()
            if isinstance(v, dict)
        ),
        key=lambda r: r[0],
    )
    return render_page(
        request,
        org,
        "dashboard/signal_detail.html",
        {
            "signal": signal,
            "chart": chart_for(signal),
            "factors": factors,
            "active": "signals",
            "deploy_form": deploy_form,
            "deployments": signal.deployments.select_related("bot", "instance").order_by("-created_at")[:10],
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@member_view()
def signal_sources(request: HttpRequest, org: OrgContext) -> HttpResponse:
    """The organization's sources with their watched markets and evaluation; admins add sources,
    switch them on and off and make a webhook source's secret URL (shown once, on the answer to
    that POST); traders add watched markets (the services check the role)."""
    source_form = SignalSourceForm(prefix="source")
    market_form = WatchedMarketForm(prefix="market", organization=org.organization)
    status = 200
    issued = None
    if request.method == "POST" and ("rotate_webhook" in request.POST or "toggle_source" in request.POST):
        source_id = request.POST.get("source_id", "")
        row = get_object_or_404(
            SignalSource.objects.for_organization(org.organization), pk=int(source_id) if source_id.isdigit() else 0
        )
        try:
            if "rotate_webhook" in request.POST:
                token, secret = webhook_token_rotate(signal_source=row, user=request.user, source=SOURCE)
                url = request.build_absolute_uri(reverse("api:signal-webhook", args=[token]))
                issued = {"source": row, "url": url, "secret": secret}
            else:
                row = source_update(signal_source=row, user=request.user, source=SOURCE, enabled=not row.enabled)
                messages.success(request, f"Source {row.name!r} {'enabled' if row.enabled else 'disabled'}.")
                return redirect("dashboard:signal_sources")
        except PermissionDeniedError:
            raise
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("dashboard:signal_sources")
    elif request.method == "POST":
        try:
            if "add_source" in request.POST:
                source_form = SignalSourceForm(request.POST, prefix="source")
                if source_form.is_valid():
                    row = source_create(
                        organization=org.organization, user=request.user, source=SOURCE, **source_form.cleaned_data
                    )
                    messages.success(request, f"Source {row.name!r} added.")
                    return redirect("dashboard:signal_sources")
            else:
                market_form = WatchedMarketForm(request.POST, prefix="market", organization=org.organization)
                if market_form.is_valid():
                    data = dict(market_form.cleaned_data)
                    row = watched_market_add(signal_source=data.pop("source"), user=request.user, source=SOURCE, **data)
                    messages.success(request, f"Watching {row}.")
                    return redirect("dashboard:signal_sources")
        except PermissionDeniedError:
            raise
        except ApplicationError as exc:
            form_error(source_form if "add_source" in request.POST else market_form, exc)
        status = 400
    sources = list(
        SignalSource.objects.for_organization(org.organization).prefetch_related("watched_markets").order_by("name")
    )
    evaluation = signal_evaluation(signals=Signal.objects.for_organization(org.organization))
    response = render_page(
        request,
        org,
        "dashboard/signal_sources.html",
        {
            "sources": sources,
            "source_form": source_form,
            "market_form": market_form,
            "evaluation": evaluation,
            "active": "signals",
            "issued": issued,
        },
        status,
    )
    if issued:
        response["Cache-Control"] = "no-store"  # the secret URL is shown on this answer only
    return response
