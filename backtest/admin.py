"""Backtests in admin: queue one (spot or perpetual; it runs on a worker), watch its progress,
read its statistics, equity chart, perpetual figures, sweep ranking and trades."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from backtest.models import Backtest
from backtest.services import backtest_enqueue, backtest_market_validate, backtest_requeue, backtest_validate
from core.errors import ApplicationError
from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, badge
from organizations.models import Role
from strategies.registry import params_to_json

STAT_LABELS = (
    ("total_return_pct", "Total return %"),
    ("annualised_return_pct", "Annualised return %"),
    ("sharpe", "Sharpe"),
    ("sortino", "Sortino"),
    ("max_drawdown_pct", "Max drawdown %"),
    ("max_drawdown_days", "Max drawdown duration (days)"),
    ("trades", "Closed trades"),
    ("win_rate_pct", "Win rate %"),
    ("profit_factor", "Profit factor"),
    ("average_trade", "Average trade"),
    ("exposure_pct", "Exposure time %"),
    ("final_equity", "Final equity"),
    ("bars", "Candles"),
)
# Shown for perpetual runs only.
PERP_STAT_LABELS = (
    ("funding_total", "Funding received (negative: paid)"),
    ("liquidations", "Liquidations"),
)
MARKET_FIELDS = ["market_type", "leverage", "margin_mode", "funding_rate", "funding_interval_hours", "max_leverage"]


def equity_svg(points: list, width: int = 640, height: int = 180) -> str:
    """An inline SVG line of the equity curve ([ms, value] pairs); empty without points."""
    if len(points) < 2:
        return ""
    xs = [p[0] for p in points]
    ys = [float(p[1]) for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    dx, dy = (x1 - x0) or 1, (y1 - y0) or 1
    coords = " ".join(
        f"{(x - x0) / dx * (width - 10) + 5:.1f},{height - 5 - (y - y0) / dy * (height - 10):.1f}"
        for x, y in zip(xs, ys, strict=True)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="equity curve"><rect width="100%" height="100%" fill="#f6f8fa"/>'
        f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{coords}"/>'
        f'<text x="6" y="14" font-size="11">{y1:,.2f}</text>'
        f'<text x="6" y="{height - 8}" font-size="11">{y0:,.2f}</text></svg>'
    )


# What a person sets on a backtest; the rest (status, progress, results) the run writes.
INPUT_FIELDS = [
    "organization",
    "name",
    "strategy",
    "params",
    "sweep",
    "rank_by",
    "exchange",
    "symbol",
    "timeframe",
    "start",
    "end",
    "capital",
    "taker_fee",
    "maker_fee",
    "slippage",
    *MARKET_FIELDS,
]


class BacktestForm(forms.ModelForm):
    class Meta:
        model = Backtest
        fields = INPUT_FIELDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in MARKET_FIELDS:  # a spot backtest leaves them out
            if name in self.fields:
                self.fields[name].required = False

    def clean(self):
        data = super().clean()
        for name in MARKET_FIELDS:
            if data.get(name) in (None, ""):
                data[name] = Backtest._meta.get_field(name).get_default()
        try:
            run = backtest_validate(
                strategy=data.get("strategy", ""),
                params=data.get("params"),
                sweep=data.get("sweep"),
                rank_by=data.get("rank_by", ""),
            )
            perp = backtest_market_validate(
                market_type=data["market_type"],
                symbol=data.get("symbol", ""),
                leverage=data["leverage"],
                margin_mode=data["margin_mode"],
                funding_rate=data["funding_rate"],
                funding_interval_hours=data["funding_interval_hours"],
                max_leverage=data["max_leverage"],
                exchange=data.get("exchange") or "binance",
                params=run.params,
                sweep=run.grid,
            )
        except ApplicationError as exc:
            if exc.field in MARKET_FIELDS or exc.field == "symbol":
                raise ValidationError({exc.field: exc.message}) from None
            raise ValidationError(exc.message) from None
        data["params"] = params_to_json(run.params)  # stored in full, defaults included
        if perp is not None:
            data["funding_interval_hours"] = perp.funding_interval_hours
        return data


@admin.register(Backtest)
class BacktestAdmin(OrganizationScopedAdmin):
    form = BacktestForm
    write_role = Role.TRADER
    list_display = [
        "__str__",
        "organization",
        "strategy",
        "symbol",
        "market",
        "timeframe",
        "status_badge",
        "progress",
        "ret",
    ]
    list_filter = [OrganizationListFilter, "status", "strategy", "market_type"]
    list_select_related = ["organization"]
    search_fields = ["name", "strategy", "symbol"]
    fields = [
        *INPUT_FIELDS,
        "status",
        "progress",
        "error",
        "stats_table",
        "perp_table",
        "equity_chart",
        "sweep_table",
        "trades_table",
    ]
    readonly_fields = [
        "status",
        "progress",
        "error",
        "stats_table",
        "perp_table",
        "equity_chart",
        "sweep_table",
        "trades_table",
    ]
    actions = ["run_again"]

    def has_change_permission(self, request, obj=None):
        # A backtest is a record of a run: queued once, then only read (or deleted).
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            backtest_enqueue(backtest=obj)

    @admin.display(description="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display())

    @admin.display(description="market")
    def market(self, obj):
        if obj.market_type != "perp":
            return "spot"
        return f"perp {obj.leverage.normalize():f}x {obj.margin_mode}"

    @admin.display(description="perpetual")
    def perp_table(self, obj):
        results = obj.results or {}
        if obj.market_type != "perp" or "perp" not in results:
            return "-"
        stats = results.get("stats", {})
        rejected = stats.get("rejected") or {}
        rows = [(label, stats.get(key, "")) for key, label in PERP_STAT_LABELS]
        rows += [
            ("Entries refused for margin", rejected.get("margin_refused", 0)),
            ("Funding payments", results.get("funding_payments", 0)),
            ("Margin posted at the end", results.get("final", {}).get("margin", "")),
        ]
        table = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        liquidations = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (x["candle_ms"], x["side"], x["quantity"], x["price"], x["margin_lost"])
                for x in results.get("liquidations", [])
            ),
        )
        if not liquidations:
            return format_html("<table>{}</table>", table)
        return format_html(
            "<table>{}</table><table><tr><th>liquidated (candle ms)</th><th>side</th><th>quantity</th>"
            "<th>price</th><th>margin lost</th></tr>{}</table>",
            table,
            liquidations,
        )

    @admin.display(description="return %")
    def ret(self, obj):
        return (obj.results or {}).get("stats", {}).get("total_return_pct", "")

    @admin.display(description="statistics")
    def stats_table(self, obj):
        stats = (obj.results or {}).get("stats")
        if not stats:
            return "-"
        rows = format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", ((label, stats.get(key, "")) for key, label in STAT_LABELS)
        )
        return format_html("<table>{}</table>", rows)

    @admin.display(description="equity")
    def equity_chart(self, obj):
        svg = equity_svg((obj.results or {}).get("equity", []))
        return mark_safe(svg) if svg else "-"  # noqa: S308 - built from numbers only

    @admin.display(description="sweep (best first)")
    def sweep_table(self, obj):
        rows = (obj.results or {}).get("sweep")
        if not rows:
            return "-"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    r["rank"],
                    ", ".join(f"{k}={v}" for k, v in r["params"].items() if k in obj.sweep),
                    r["stats"].get("total_return_pct"),
                    r["stats"].get("sharpe"),
                    r["stats"].get("max_drawdown_pct"),
                    r["stats"].get("trades"),
                )
                for r in rows
            ),
        )
        return format_html(
            "<table><tr><th>#</th><th>params</th><th>return %</th><th>Sharpe</th><th>max DD %</th>"
            "<th>trades</th></tr>{}</table>",
            body,
        )

    @admin.display(description="trades (first 100)")
    def trades_table(self, obj):
        trades = (obj.results or {}).get("trades")
        if not trades:
            return "-"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (t["entry_ms"], t["entry_price"], t["exit_ms"], t["exit_price"], t["amount"], t["pnl"])
                for t in trades[:100]
            ),
        )
        return format_html(
            "<table><tr><th>entry (ms)</th><th>entry price</th><th>exit (ms)</th><th>exit price</th>"
            "<th>amount</th><th>PnL</th></tr>{}</table>",
            body,
        )

    @admin.action(description="Run the selected backtests again")
    def run_again(self, request, queryset):
        def again(backtest: Backtest) -> None:
            backtest_requeue(backtest=backtest, user=request.user)

        self.run_service(request, queryset, again, "Queued")
