from django.contrib import admin, messages

from bots.models import EventSource
from core.errors import ApplicationError
from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, admin_link, badge
from organizations.tenancy import organization_ids_for_user
from risk.models import KillSwitch, RiskLimits
from risk.services import kill_switch_engage, kill_switch_release


@admin.register(RiskLimits)
class RiskLimitsAdmin(OrganizationScopedAdmin):
    list_display = [
        "scope_label",
        "org",
        "max_order_notional",
        "max_position_notional",
        "max_open_orders",
        "max_daily_loss",
        "max_daily_trades",
        "max_drawdown_pct",
        "price_band_pct",
        "updated_at",
    ]
    list_filter = [OrganizationListFilter]
    search_fields = ["organization__name", "bot__name", "exchange_account__label"]
    list_select_related = ["organization", "exchange_account", "bot"]

    @admin.display(description="scope")
    def scope_label(self, obj):
        return obj.scope_label

    @admin.display(description="organization")
    def org(self, obj):
        return admin_link(obj.organization)


@admin.register(KillSwitch)
class KillSwitchAdmin(admin.ModelAdmin):
    """Switches are operated through actions (which stop bots and audit); rows are not hand-edited."""

    list_display = ["scope", "state", "reason", "changed_by", "changed_at"]
    list_select_related = ["organization", "changed_by"]
    actions = ["engage", "release"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if not request.user.is_superuser:
            qs = qs.filter(organization_id__in=organization_ids_for_user(request.user))
        return qs

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="scope")
    def scope(self, obj):
        return admin_link(obj.organization) if obj.organization_id else "GLOBAL"

    @admin.display(description="state", ordering="engaged")
    def state(self, obj):
        return badge("critical", "ENGAGED") if obj.engaged else badge("running", "off")

    def _apply(self, request, queryset, engage: bool):
        for switch in queryset.select_related("organization"):
            try:
                if engage:
                    kill_switch_engage(
                        organization=switch.organization,
                        user=request.user,
                        reason="engaged from admin",
                        source=EventSource.ADMIN,
                    )
                else:
                    kill_switch_release(organization=switch.organization, user=request.user, source=EventSource.ADMIN)
                self.message_user(request, f"{switch.organization or 'Global'}: {'engaged' if engage else 'released'}.")
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    @admin.action(description="Engage (stop every bot in scope)")
    def engage(self, request, queryset):
        self._apply(request, queryset, engage=True)

    @admin.action(description="Release")
    def release(self, request, queryset):
        self._apply(request, queryset, engage=False)
