from django.contrib import admin, messages

from core.errors import ApplicationError
from core.events import EventSource
from organizations import admin as organizations_admin
from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, admin_link, badge
from organizations.models import Organization
from organizations.tenancy import organization_ids_for_user
from risk.models import KillSwitch, RiskLimits
from risk.services import kill_switch_action_set, kill_switch_engage, kill_switch_release


def operate_kill_switches(model_admin, request, organizations, *, engage: bool) -> None:
    """Engage or release each switch (None: the global one) through the services, reporting each outcome."""
    for org in organizations:
        scope = org or "Global"
        try:
            if engage:
                kill_switch_engage(
                    organization=org, user=request.user, reason="engaged from admin", source=EventSource.ADMIN
                )
                model_admin.message_user(request, f"{scope}: kill switch engaged, bots stopped.", messages.WARNING)
            else:
                kill_switch_release(organization=org, user=request.user, source=EventSource.ADMIN)
                model_admin.message_user(request, f"{scope}: kill switch released.", messages.SUCCESS)
        except ApplicationError as exc:
            model_admin.message_user(request, f"{scope}: {exc.message}", messages.ERROR)


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

    @admin.action(description="Engage (stop every bot in scope)")
    def engage(self, request, queryset):
        operate_kill_switches(
            self, request, [s.organization for s in queryset.select_related("organization")], engage=True
        )

    @admin.action(description="Release")
    def release(self, request, queryset):
        operate_kill_switches(
            self, request, [s.organization for s in queryset.select_related("organization")], engage=False
        )


class OrganizationAdmin(organizations_admin.OrganizationAdmin):
    """The organization admin with each organization's kill switch: its state and the actions."""

    list_display = ["name", "slug", "is_active", "members", "kill_switch_state", "kill_switch_action", "created_at"]
    actions = ["engage_kill_switch", "release_kill_switch", "kill_switch_flattens", "kill_switch_cancels"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("kill_switch")

    @admin.display(description="kill switch")
    def kill_switch_state(self, obj):
        switch = getattr(obj, "kill_switch", None)
        if switch is not None and switch.engaged:
            return badge("critical", "ENGAGED")
        return badge("running", "off")

    @admin.display(description="when engaged")
    def kill_switch_action(self, obj):
        switch = getattr(obj, "kill_switch", None)
        return "cancel + flatten" if switch is not None and switch.action == "flatten" else "cancel"

    @admin.action(description="Kill switch: also flatten positions when engaged")
    def kill_switch_flattens(self, request, queryset):
        self._kill_switch_action(request, queryset, "flatten")

    @admin.action(description="Kill switch: only cancel orders when engaged")
    def kill_switch_cancels(self, request, queryset):
        self._kill_switch_action(request, queryset, "cancel")

    def _kill_switch_action(self, request, queryset, action: str) -> None:
        done = 0
        for organization in queryset:
            try:
                kill_switch_action_set(organization=organization, action=action, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{organization}: {exc.message}", level=messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"Kill switch action set to {action} for {done} organization(s).")

    @admin.action(description="Engage the kill switch (stop all bots)")
    def engage_kill_switch(self, request, queryset):
        operate_kill_switches(self, request, list(queryset), engage=True)

    @admin.action(description="Release the kill switch")
    def release_kill_switch(self, request, queryset):
        operate_kill_switches(self, request, list(queryset), engage=False)


admin.site.unregister(Organization)
admin.site.register(Organization, OrganizationAdmin)
