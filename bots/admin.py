from django import forms
from django.contrib import admin
from django.db.models import Count
from django.forms.models import BaseInlineFormSet

from bots.models import Bot, BotEvent, BotMode, EventSource, Fill, FundingPayment, Order, Position
from bots.services import bot_restart, bot_start, bot_stop
from organizations.admin_base import (
    OrganizationListFilter,
    OrganizationScopedAdmin,
    ReadOnlyAdminMixin,
    admin_link,
    badge,
    changelist_link,
)
from organizations.models import Organization, Role
from organizations.permissions import user_has_role
from risk import admin as risk_admin
from strategies.registry import choices as strategy_choices

RECENT_ROWS = 20


class RecentFirstFormSet(BaseInlineFormSet):
    """Shows only the newest rows: a bot can have millions of orders and events."""

    def get_queryset(self):
        return super().get_queryset()[:RECENT_ROWS]


class ReadOnlyInline(admin.TabularInline):
    formset = RecentFirstFormSet
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RecentOrdersInline(ReadOnlyInline):
    model = Order
    fields = ["created_at", "client_order_id", "side", "type", "price", "amount", "filled", "status"]
    readonly_fields = fields
    verbose_name_plural = f"recent orders (newest {RECENT_ROWS})"


class RecentEventsInline(ReadOnlyInline):
    model = BotEvent
    fields = ["created_at", "level", "kind", "message", "actor", "source"]
    readonly_fields = fields
    verbose_name_plural = f"recent events (newest {RECENT_ROWS})"


class BotForm(forms.ModelForm):
    strategy = forms.ChoiceField(choices=strategy_choices)

    class Meta:
        model = Bot
        fields = [
            "organization",
            "name",
            "strategy",
            "params",
            "symbol",
            "market_type",
            "leverage",
            "margin_mode",
            "exchange_account",
            "secondary_exchange_account",
            "mode",
            "execution",
            "failover_policy",
            "tick_interval",
            "desired_status",
        ]


@admin.register(Bot)
class BotAdmin(OrganizationScopedAdmin):
    form = BotForm
    write_role = Role.TRADER
    list_display = [
        "name",
        "org",
        "strategy",
        "symbol",
        "market",
        "account",
        "mode",
        "execution",
        "status_badge",
        "last_heartbeat_at",
        "tick_count",
        "consecutive_errors",
    ]
    list_filter = [OrganizationListFilter, "status", "mode", "execution", "market_type", "strategy"]
    search_fields = ["name", "symbol", "strategy"]
    list_select_related = ["organization", "exchange_account"]
    readonly_fields = [
        "status_badge",
        "status_changed_at",
        "next_tick_at",
        "last_tick_at",
        "last_heartbeat_at",
        "last_error",
        "tick_count",
        "last_tick_ms",
        "consecutive_errors",
        "restart_count",
        "watchdog_restarts",
        "state",
        "created_by",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["organization", "name", "strategy", "params", "symbol"]}),
        ("Market", {"fields": ["market_type", "leverage", "margin_mode"]}),
        (
            "Execution",
            {
                "fields": [
                    "exchange_account",
                    "secondary_exchange_account",
                    "mode",
                    "execution",
                    "failover_policy",
                    "tick_interval",
                    "capital",
                ]
            },
        ),
        (
            "State",
            {
                "fields": [
                    "status_badge",
                    "desired_status",
                    "status_changed_at",
                    "next_tick_at",
                    "last_tick_at",
                    "last_heartbeat_at",
                    "last_error",
                    "tick_count",
                    "last_tick_ms",
                    "consecutive_errors",
                    "restart_count",
                    "watchdog_restarts",
                    "state",
                ]
            },
        ),
        ("Audit", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]
    inlines = [RecentOrdersInline, RecentEventsInline]
    actions = ["start_bots", "stop_bots", "restart_bots"]

    @admin.display(description="organization", ordering="organization__name")
    def org(self, obj):
        return admin_link(obj.organization)

    @admin.display(description="account", ordering="exchange_account__label")
    def account(self, obj):
        return admin_link(obj.exchange_account)

    @admin.display(description="market", ordering="market_type")
    def market(self, obj):
        return f"perp {obj.leverage.normalize():f}x {obj.margin_mode}" if obj.market_type == "perp" else "spot"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class LiveNeedsAdminForm(form_class):
            def clean(self):
                data = super().clean()
                org = data.get("organization")
                if (
                    data.get("mode") == BotMode.LIVE
                    and org is not None
                    and not user_has_role(user=request.user, organization=org, role=Role.ADMIN)
                ):
                    self.add_error("mode", "Live mode needs the admin role.")
                return data

        return LiveNeedsAdminForm

    @admin.action(description="Start the selected bots")
    def start_bots(self, request, queryset):
        self.run_service(
            request, queryset, lambda bot: bot_start(bot=bot, user=request.user, source=EventSource.ADMIN), "Started"
        )

    @admin.action(description="Stop the selected bots (cancel open orders)")
    def stop_bots(self, request, queryset):
        self.run_service(
            request, queryset, lambda bot: bot_stop(bot=bot, user=request.user, source=EventSource.ADMIN), "Stopped"
        )

    @admin.action(description="Restart the selected bots")
    def restart_bots(self, request, queryset):
        self.run_service(
            request,
            queryset,
            lambda bot: bot_restart(bot=bot, user=request.user, source=EventSource.ADMIN),
            "Restarted",
        )


class FillInline(ReadOnlyInline):
    model = Fill
    fk_name = "order"
    fields = ["ts", "trade_id", "price", "amount", "fee", "fee_currency"]
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    list_display = [
        "client_order_id",
        "bot_link",
        "account",
        "symbol",
        "side",
        "type",
        "price",
        "amount",
        "filled",
        "trigger",
        "reduce_only",
        "status_badge",
        "created_at",
    ]
    list_filter = [OrganizationListFilter, "status", "side", "type", "reduce_only"]
    search_fields = ["client_order_id", "exchange_order_id", "symbol"]
    list_select_related = ["bot", "exchange_account"]
    date_hierarchy = "created_at"
    inlines = [FillInline]
    show_full_result_count = False

    @admin.display(description="bot", ordering="bot__name")
    def bot_link(self, obj):
        return admin_link(obj.bot)

    @admin.display(description="account")
    def account(self, obj):
        return admin_link(obj.exchange_account)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status)

    @admin.display(description="trigger")
    def trigger(self, obj):
        return f"{obj.trigger_kind} @ {obj.trigger_price}" if obj.trigger_price is not None else "—"


@admin.register(Fill)
class FillAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    list_display = [
        "ts",
        "trade_id",
        "order_link",
        "bot_link",
        "symbol",
        "side",
        "price",
        "amount",
        "fee",
        "liquidation_badge",
    ]
    list_filter = [OrganizationListFilter, "side", "liquidation"]
    search_fields = ["trade_id", "symbol", "order__client_order_id"]
    list_select_related = ["order", "bot"]
    show_full_result_count = False

    @admin.display(description="order")
    def order_link(self, obj):
        return admin_link(obj.order, obj.order.client_order_id)

    @admin.display(description="liquidation", ordering="liquidation")
    def liquidation_badge(self, obj):
        return badge("critical", "LIQUIDATION") if obj.liquidation else ""

    @admin.display(description="bot")
    def bot_link(self, obj):
        return admin_link(obj.bot)


@admin.register(Position)
class PositionAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    list_display = [
        "bot_link",
        "symbol",
        "quantity",
        "average_entry_price",
        "realized_pnl",
        "fees_paid",
        "funding",
        "mark_price",
        "unrealized_pnl",
        "liquidation_price",
        "margin_used",
        "state",
        "opened_at",
        "closed_at",
        "exit_reason",
    ]
    list_filter = [OrganizationListFilter]
    search_fields = ["symbol", "bot__name"]
    list_select_related = ["bot"]

    @admin.display(description="bot")
    def bot_link(self, obj):
        return admin_link(obj.bot)

    @admin.display(description="state")
    def state(self, obj):
        return badge("open" if obj.is_open else "closed")


@admin.register(FundingPayment)
class FundingPaymentAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    """Perpetual funding, one ledger row per payment (received > 0, paid < 0)."""

    list_display = ["ts", "bot_link", "symbol", "rate", "position_quantity", "mark_price", "amount"]
    list_filter = [OrganizationListFilter, "symbol"]
    search_fields = ["symbol", "bot__name", "payment_id"]
    list_select_related = ["bot"]
    date_hierarchy = "ts"
    show_full_result_count = False

    @admin.display(description="bot")
    def bot_link(self, obj):
        return admin_link(obj.bot)


@admin.register(BotEvent)
class BotEventAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    """The audit trail: nobody edits or deletes it from here."""

    list_display = ["created_at", "level_badge", "kind", "org", "bot_link", "short_message", "actor", "source"]
    list_filter = [OrganizationListFilter, "level", "source", "kind"]
    search_fields = ["kind", "message", "bot__name"]
    list_select_related = ["organization", "bot", "actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="level", ordering="level")
    def level_badge(self, obj):
        return badge(obj.level)

    @admin.display(description="organization")
    def org(self, obj):
        return admin_link(obj.organization)

    @admin.display(description="bot")
    def bot_link(self, obj):
        return admin_link(obj.bot)

    @admin.display(description="message")
    def short_message(self, obj):
        return obj.message if len(obj.message) <= 100 else obj.message[:99] + "…"


class OrganizationAdmin(risk_admin.OrganizationAdmin):
    """The organization admin with a column counting each organization's bots."""

    list_display = [
        "name",
        "slug",
        "is_active",
        "members",
        "bots",
        "kill_switch_state",
        "kill_switch_action",
        "created_at",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(bot_count=Count("bots", distinct=True))

    @admin.display(ordering="bot_count")
    def bots(self, obj):
        return changelist_link(Bot, str(obj.bot_count), organization=obj.pk)


admin.site.unregister(Organization)
admin.site.register(Organization, OrganizationAdmin)
