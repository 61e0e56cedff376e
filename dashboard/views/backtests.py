"""Backtests: the organization's runs with their key statistics, a form to queue one (spot or
perpetual), and a run's page with its statistics, perpetual figures, equity chart, trades and
sweep ranking."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models.fields.json import KeyTransform
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from backtest.admin import PERP_STAT_LABELS, STAT_LABELS
from backtest.models import Backtest, BacktestStatus
from backtest.services import RANKABLE, backtest_create
from core.errors import ApplicationError, PermissionDeniedError
from dashboard.views.base import OrgContext, form_error, member_view, render_page
from organizations.models import Role

LIST_ROWS = 100
DETAIL_TRADES = 100
REFRESH_SECONDS = 3


class BacktestForm(forms.Form):
    """What a customer chooses for a run; the service checks the strategy, its params and the
    sweep grid, and names the field at fault."""

    name = forms.CharField(max_length=200, required=False)
    strategy = forms.ChoiceField(choices=())
    symbol = forms.CharField(max_length=32, initial="BTC/USDT")
    timeframe = forms.CharField(max_length=8, initial="5m", help_text="Candle length, e.g. 1m, 5m, 1h.")
    start = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), help_text="UTC."
    )
    end = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), help_text="UTC."
    )
    capital = forms.DecimalField(max_digits=38, decimal_places=18, initial=Decimal("1000"))
    params = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text='JSON object, e.g. {"fast_period": 12}; missing ones take their default.',
    )
    sweep = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Optional grid, e.g. {"fast_period": [8, 12, 16]}; every combination is run and ranked.',
    )
    rank_by = forms.ChoiceField(
        choices=[(key, key) for key in RANKABLE], initial="total_return_pct", help_text="Ranks the sweep."
    )
    market_type = forms.ChoiceField(
        choices=[("spot", "Spot"), ("perp", "Perpetual futures")],
        initial="spot",
        required=False,
        help_text="A perpetual is named BASE/QUOTE:SETTLE (BTC/USDT:USDT) and replays the spot candles.",
    )
    leverage = forms.DecimalField(
        max_digits=6, decimal_places=2, initial=Decimal("1"), required=False, help_text="Perpetuals; 1 on spot."
    )
    margin_mode = forms.ChoiceField(
        choices=[("isolated", "Isolated"), ("cross", "Cross")], initial="isolated", required=False
    )
    funding_rate = forms.DecimalField(
        max_digits=38,
        decimal_places=18,
        initial=Decimal("0"),
        required=False,
        help_text="Perpetuals: per funding interval, 0.0001 is 0.01%; longs pay a positive rate.",
    )
    funding_interval_hours = forms.IntegerField(
        min_value=1, required=False, help_text="Perpetuals: empty takes the exchange's (8 h on Binance)."
    )
    max_leverage = forms.DecimalField(
        max_digits=6,
        decimal_places=2,
        initial=Decimal("50"),
        required=False,
        help_text="Perpetuals: the market's maximum; the maintenance margin rate is 1 / (2 x it).",
    )

    def __init__(self, *args, **kwargs) -> None:
        from strategies.registry import choices

        super().__init__(*args, **kwargs)
        self.fields["strategy"].choices = choices()

    def clean_symbol(self) -> str:
        return self.cleaned_data["symbol"].strip().upper()

    def clean_params(self) -> dict:
        params = self.cleaned_data.get("params")
        if params in (None, ""):
            return {}
        if not isinstance(params, dict):
            raise forms.ValidationError('Parameters are a JSON object, e.g. {"fast_period": 12}.')
        return params

    def clean(self) -> dict:
        data = super().clean()
        defaults = {
            "market_type": "spot",
            "leverage": Decimal("1"),
            "margin_mode": "isolated",
            "funding_rate": Decimal("0"),
            "max_leverage": Decimal("50"),
        }
        for name, value in defaults.items():  # left empty: the spot defaults
            if data.get(name) in (None, ""):
                data[name] = value
        return data

    def clean_sweep(self) -> dict:
        sweep = self.cleaned_data.get("sweep")
        if sweep in (None, ""):
            return {}
        if not isinstance(sweep, dict):
            raise forms.ValidationError('The sweep is a JSON object of lists, e.g. {"fast_period": [8, 12]}.')
        return sweep


def _default_window() -> dict[str, Any]:
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    return {"start": end - dt.timedelta(days=30), "end": end}


@require_http_methods(["GET", "POST"])
@member_view()
def backtests(request: HttpRequest, org: OrgContext) -> HttpResponse:
    can_trade = org.allows(Role.TRADER)
    form = BacktestForm(initial=_default_window()) if can_trade else None
    status = 200
    if request.method == "POST":
        if not can_trade:
            raise PermissionDenied(f"This needs the {Role.TRADER.label.lower()} role or higher.")
        form = BacktestForm(request.POST)
        if form.is_valid():
            try:
                backtest = backtest_create(organization=org.organization, user=request.user, **form.cleaned_data)
            except PermissionDeniedError:
                raise
            except ApplicationError as exc:
                form_error(form, exc)
            else:
                messages.success(request, f"Backtest {backtest} queued.")
                return redirect("dashboard:backtest", pk=backtest.pk)
        status = 400
    rows = (
        Backtest.objects.for_organization(org.organization)
        .defer("results", "params", "sweep", "error")
        .annotate(stats=KeyTransform("stats", "results"))
        .order_by("-created_at", "-id")[:LIST_ROWS]
    )
    return render_page(
        request,
        org,
        "dashboard/backtests.html",
        {"backtests": rows, "form": form, "list_rows": LIST_ROWS, "active": "backtests"},
        status,
    )


def _at(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _detail_context(backtest: Backtest) -> dict[str, Any]:
    results = backtest.results or {}
    stats = results.get("stats") or {}
    trades = [
        {**t, "entry_at": _at(t.get("entry_ms")), "exit_at": _at(t.get("exit_ms"))}
        for t in (results.get("trades") or [])[:DETAIL_TRADES]
    ]
    swept = set(backtest.sweep or {})
    sweep = [
        {
            "rank": row.get("rank"),
            "params": ", ".join(f"{k}={v}" for k, v in (row.get("params") or {}).items() if k in swept),
            "stats": row.get("stats") or {},
        }
        for row in results.get("sweep") or []
    ]
    pending = backtest.status in {BacktestStatus.QUEUED, BacktestStatus.RUNNING}
    perp = None
    if backtest.market_type == "perp" and "perp" in results:
        rejected = stats.get("rejected") or {}
        perp = {
            "stats": [(label, stats.get(key)) for key, label in PERP_STAT_LABELS]
            + [
                ("Entries refused for margin", rejected.get("margin_refused", 0)),
                ("Funding payments", results.get("funding_payments", 0)),
                ("Margin posted at the end", (results.get("final") or {}).get("margin")),
            ],
            "liquidations": [{**x, "at": _at(x.get("candle_ms"))} for x in results.get("liquidations") or []],
        }
    return {
        "backtest": backtest,
        "active": "backtests",
        "stats": [(label, stats.get(key)) for key, label in STAT_LABELS] if stats else [],
        "chart": {"label": "Equity", "source": "backtest", "points": results.get("equity") or []},
        "trades": trades,
        "trades_total": results.get("trades_total", len(results.get("trades") or [])),
        "best_params": results.get("params") or {},
        "sweep": sweep,
        "pending": pending,
        "refresh_ms": REFRESH_SECONDS * 1000,
        "perp": perp,
    }


@member_view()
def backtest_detail(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    backtest = get_object_or_404(Backtest.objects.for_organization(org.organization), pk=pk)
    return render_page(request, org, "dashboard/backtest_detail.html", _detail_context(backtest))
