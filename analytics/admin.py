from django.contrib import admin

from analytics.models import MetricSnapshot
from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, ReadOnlyAdminMixin, admin_link


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    list_display = [
        "ts",
        "bot_link",
        "resolution",
        "balance",
        "equity",
        "pnl",
        "pnl_pct",
        "open_orders",
        "filled_orders",
        "volume_24h",
    ]
    list_filter = [OrganizationListFilter, "resolution"]
    search_fields = ["bot__name"]
    list_select_related = ["bot"]
    date_hierarchy = "ts"
    show_full_result_count = False

    @admin.display(description="bot")
    def bot_link(self, obj):
        return admin_link(obj.bot)
