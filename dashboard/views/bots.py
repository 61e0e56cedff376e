"""Bots: the overview, a bot's page with its live tables and chart, create/edit, start/stop and manual orders."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db.models import F, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from analytics.models import MetricSnapshot
from bots.live import bot_payload
from bots.models import Bot, BotEvent, BotMode, Fill, FundingPayment, MarketType, Order, Position
from bots.positions import PositionState, apply_fill, fee_in_quote
from bots.runtime import manual_order_place
from bots.services import bot_create, bot_start, bot_stop, bot_update
from bots.state import ACTIVE_STATUSES, BotStatus
from core.errors import ApplicationError, PermissionDeniedError
from dashboard.forms import BotForm, ManualOrderForm
from dashboard.views.base import (
    SOURCE,
    OrgContext,
    form_error,
    kill_switch_state,
    member_view,
    redirect_back,
    render_page,
    scoped_bot,
    wants_json,
)
from organizations.models import Role

DETAIL_ROWS = 50
CHART_POINTS = 500
# Realized PnL net of fees, as the live bot frames carry it.
NET_PNL = Sum(F("realized_pnl") - F("fees_paid") + F("funding"))  # funding: perpetuals


@member_view()
def home(request: HttpRequest, org: OrgContext) -> HttpResponse:
    bots = (
        Bot.objects.for_user(request.user)
        .for_organization(org.organization)
        .select_related("exchange_account")
        .annotate(realized_pnl=Sum(F("positions__realized_pnl") - F("positions__fees_paid")))
        .order_by("name")
    )
    return render_page(
        request,
        org,
        "dashboard/home.html",
        {"bots": bots, "kill_switch": kill_switch_state(org.organization), "active": "bots"},
    )


def equity_series(bot: Bot) -> dict[str, Any]:
    """Equity from the metric snapshots; without any, the realized PnL (net of fees) summed over
    the bot's fills in time order, each fill applied to its symbol's position."""
    rows = list(MetricSnapshot.objects.filter(bot=bot).order_by("-ts").values_list("ts", "equity")[:CHART_POINTS])
    if rows:
        rows.reverse()
        return {"label": "Equity", "source": "snapshots", "points": [[_ms(ts), str(v)] for ts, v in rows]}
    states: dict[str, PositionState] = {}
    total = Decimal("0")
    points = []
    fills = (
        Fill.objects.filter(bot=bot)
        .order_by("ts", "id")
        .only("ts", "symbol", "side", "price", "amount", "fee", "fee_currency")
    )
    for fill in fills.iterator(chunk_size=5000):
        before = states.get(fill.symbol, PositionState())
        after = apply_fill(before, side=fill.side, price=fill.price, amount=fill.amount, fee=fee_in_quote(fill))
        states[fill.symbol] = after
        total += (after.realized_pnl - before.realized_pnl) - (after.fees - before.fees)
        points.append([_ms(fill.ts), str(total)])
    if len(points) > CHART_POINTS:
        step = len(points) / CHART_POINTS
        points = [points[int(i * step)] for i in range(CHART_POINTS - 1)] + [points[-1]]
    return {"label": "Realized PnL", "source": "fills", "points": points}


def _ms(ts) -> int:
    return int(ts.timestamp() * 1000)


def _detail_context(bot: Bot, org: OrgContext, order_form: ManualOrderForm | None = None) -> dict[str, Any]:
    # Open positions first, then the most recent.
    positions = Position.objects.filter(bot=bot).order_by(F("closed_at").desc(nulls_first=True), "-opened_at")[
        :DETAIL_ROWS
    ]
    can_operate = org.allows(Role.TRADER) and (bot.mode == BotMode.PAPER or org.allows(Role.ADMIN))
    is_perp = bot.market_type == MarketType.PERP
    funding, funding_total = [], Decimal(0)
    if is_perp:
        payments = FundingPayment.objects.filter(bot=bot)
        funding = payments.order_by("-ts", "-id")[:DETAIL_ROWS]
        funding_total = payments.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    return {
        "is_perp": is_perp,
        "funding": funding,
        "funding_total": funding_total,
        "bot": bot,
        "active": "bots",
        "orders": Order.objects.filter(bot=bot).order_by("-created_at", "-id")[:DETAIL_ROWS],
        "fills": Fill.objects.filter(bot=bot).order_by("-ts", "-id")[:DETAIL_ROWS],
        "positions": positions,
        "events": BotEvent.objects.filter(bot=bot).order_by("-created_at", "-id")[:DETAIL_ROWS],
        "realized_pnl": Position.objects.filter(bot=bot).aggregate(net=NET_PNL)["net"],
        "chart": equity_series(bot),
        "can_operate": can_operate,
        "is_active": bot.status in ACTIVE_STATUSES | {BotStatus.STARTING},
        "order_form": order_form or ManualOrderForm(),
        "kill_switch": kill_switch_state(bot.organization_id),
    }


@member_view()
def bot_detail(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    bot = scoped_bot(request, org, pk, switch=True)
    return render_page(request, org, "dashboard/bot_detail.html", _detail_context(bot, org))


@require_http_methods(["GET", "POST"])
@member_view(role=Role.TRADER)
def bot_new(request: HttpRequest, org: OrgContext) -> HttpResponse:
    form = BotForm(organization=org.organization)
    status = 200
    if request.method == "POST":
        form = BotForm(request.POST, organization=org.organization)
        if form.is_valid():
            try:
                bot = bot_create(data=form.cleaned_data, user=request.user, source=SOURCE)
            except PermissionDeniedError:
                raise
            except ApplicationError as exc:
                form_error(form, exc)
            else:
                messages.success(request, f"Bot {bot.name} created. It is stopped until you start it.")
                return redirect("dashboard:bot", pk=bot.pk)
        status = 400
    return render_page(request, org, "dashboard/bot_form.html", {"form": form, "bot": None, "active": "bots"}, status)


@require_http_methods(["GET", "POST"])
@member_view(role=Role.TRADER)
def bot_edit(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    bot = scoped_bot(request, org, pk)
    form = BotForm(initial=BotForm.initial_for(bot), organization=org.organization)
    status = 200
    if request.method == "POST":
        form = BotForm(request.POST, initial=BotForm.initial_for(bot), organization=org.organization)
        if form.is_valid():
            changed = {name: form.cleaned_data[name] for name in form.changed_data}
            try:
                bot = bot_update(bot=bot, data=changed, user=request.user, source=SOURCE)
            except PermissionDeniedError:
                raise
            except ApplicationError as exc:
                form_error(form, exc)
            else:
                messages.success(request, f"Bot {bot.name} saved.")
                return redirect("dashboard:bot", pk=bot.pk)
        status = 400
    return render_page(request, org, "dashboard/bot_form.html", {"form": form, "bot": bot, "active": "bots"}, status)


def _lifecycle_answer(request: HttpRequest, bot: Bot, *, ok: bool, message: str) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"ok": ok, "message": message, "bot": bot_payload(bot)}, status=200 if ok else 400)
    (messages.success if ok else messages.error)(request, message)
    return redirect_back(request, reverse("dashboard:bot", args=[bot.pk]))


@require_POST
@member_view(role=Role.TRADER)
def bot_start_view(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    return _lifecycle(
        request,
        scoped_bot(request, org, pk),
        "started",
        lambda bot: bot_start(bot=bot, user=request.user, source=SOURCE),
    )


@require_POST
@member_view(role=Role.TRADER)
def bot_stop_view(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    cancel = request.POST.get("keep_orders") != "on"
    return _lifecycle(
        request,
        scoped_bot(request, org, pk),
        "stopped",
        lambda bot: bot_stop(bot=bot, user=request.user, source=SOURCE, cancel_orders=cancel),
    )


def _lifecycle(request: HttpRequest, bot: Bot, done: str, service: Callable[[Bot], Bot]) -> HttpResponse:
    """Run a lifecycle service and answer with its outcome; a refused role stays a 403."""
    try:
        bot = service(bot)
    except PermissionDeniedError:
        raise
    except ApplicationError as exc:
        return _lifecycle_answer(request, bot, ok=False, message=exc.message)
    return _lifecycle_answer(request, bot, ok=True, message=f"{bot.name} {done}.")


@require_POST
@member_view(role=Role.TRADER)
def bot_order_view(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    bot = scoped_bot(request, org, pk)
    form = ManualOrderForm(request.POST)
    if form.is_valid():
        try:
            order = manual_order_place(bot=bot, user=request.user, source=SOURCE, **form.cleaned_data)
        except PermissionDeniedError:
            raise
        except ApplicationError as exc:
            form_error(form, exc)
        else:
            messages.success(request, f"Order {order.side} {order.amount} {order.symbol}: {order.status}.")
            return redirect("dashboard:bot", pk=bot.pk)
    return render_page(request, org, "dashboard/bot_detail.html", _detail_context(bot, org, form), status=400)
