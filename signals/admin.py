"""Signals in admin: sources (their webhook token digest and HMAC secret never shown), signals with
their factors read-only, watched markets, the AI budget, and the AI usage and webhook receipts
the system writes (read-only)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, ReadOnlyAdminMixin
from organizations.tenancy import organization_ids_for_user
from signals.models import AiBudget, AiUsage, Signal, SignalSource, WatchedMarket, WebhookReceipt


@admin.register(SignalSource)
class SignalSourceAdmin(OrganizationScopedAdmin):
    list_display = ["name", "organization", "kind", "weight", "enabled", "alert_min_confidence", "has_webhook"]
    list_filter = [OrganizationListFilter, "kind", "enabled"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization"]
    # The token digest and the HMAC secret stay out of every form; rotate them with the service.
    exclude = ["webhook_token_hash", "webhook_hmac_secret"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="webhook URL set", boolean=True)
    def has_webhook(self, obj):
        return bool(obj.webhook_token_hash)


@admin.register(Signal)
class SignalAdmin(OrganizationScopedAdmin):
    list_display = ["created_at", "organization", "source", "symbol", "timeframe", "side", "kind", "confidence"]
    list_filter = [OrganizationListFilter, "side", "kind", "timeframe", "source__kind"]
    search_fields = ["symbol", "source__name", "organization__name"]
    list_select_related = ["organization", "source"]
    date_hierarchy = "created_at"
    exclude = ["factors"]
    readonly_fields = ["factors_pretty", "bar_ts", "created_at"]

    @admin.display(description="factors")
    def factors_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.factors or {}, indent=2, sort_keys=True))


@admin.register(WatchedMarket)
class WatchedMarketAdmin(OrganizationScopedAdmin):
    list_display = ["__str__", "organization", "source", "enabled", "last_bar_ts"]
    list_filter = [OrganizationListFilter, "timeframe", "enabled"]
    search_fields = ["symbol", "source__name", "organization__name"]
    list_select_related = ["organization", "source"]
    readonly_fields = ["last_bar_ts", "created_at"]


@admin.register(AiBudget)
class AiBudgetAdmin(OrganizationScopedAdmin):
    list_display = ["organization", "monthly_limit", "updated_at"]
    list_filter = [OrganizationListFilter]
    list_select_related = ["organization"]


@admin.register(AiUsage)
class AiUsageAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    list_display = ["created_at", "organization", "source", "model", "prompt_tokens", "completion_tokens", "cost", "ok"]
    list_filter = [OrganizationListFilter, "ok", "model"]
    list_select_related = ["organization", "source"]


@admin.register(WebhookReceipt)
class WebhookReceiptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Receipts belong to an organization through their source."""

    list_display = ["received_at", "source", "short_digest", "signal"]
    list_select_related = ["source", "source__organization", "signal"]
    list_per_page = 50

    @admin.display(description="digest")
    def short_digest(self, obj):
        return obj.digest[:12]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(source__organization_id__in=organization_ids_for_user(request.user))
