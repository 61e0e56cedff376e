from django.contrib import admin
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from bots.admin import ReadOnlyInline
from hummingbot.models import HummingbotDeployment, HummingbotInstance
from hummingbot.services import instance_export
from organizations.admin_base import (
    OrganizationListFilter,
    OrganizationScopedAdmin,
    ReadOnlyAdminMixin,
    admin_link,
    badge,
)


class DeploymentInline(ReadOnlyInline):
    model = HummingbotDeployment
    fields = ["bot", "strategy_name", "config_version", "status", "updated_at"]
    readonly_fields = fields


@admin.register(HummingbotInstance)
class HummingbotInstanceAdmin(OrganizationScopedAdmin):
    list_display = ["name", "org", "topic", "status_badge", "last_heartbeat_at", "capacity"]
    list_filter = [OrganizationListFilter, "status"]
    search_fields = ["name", "instance_id"]
    list_select_related = ["organization"]
    readonly_fields = ["status", "last_heartbeat_at", "export_link", "created_at", "updated_at"]
    inlines = [DeploymentInline]

    def get_urls(self):
        export = self.admin_site.admin_view(self.export_view)
        return [path("<int:pk>/export/", export, name="hummingbot_hummingbotinstance_export"), *super().get_urls()]

    def export_view(self, request, pk: int):
        """The instance folder (conf_client.yml and strategy files) as a zip; only for an
        instance this user may see."""
        instance = self.get_object(request, str(pk))
        if instance is None:
            raise Http404("No such instance.")
        response = HttpResponse(instance_export(instance=instance), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="hummingbot-{instance.instance_id}.zip"'
        return response

    @admin.display(description="instance folder")
    def export_link(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:hummingbot_hummingbotinstance_export", args=[obj.pk])
        return format_html('<a href="{}">Download conf folder (zip)</a>', url)

    @admin.display(description="organization")
    def org(self, obj):
        return admin_link(obj.organization)

    @admin.display(description="MQTT topic prefix")
    def topic(self, obj):
        return obj.topic_prefix

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status)


@admin.register(HummingbotDeployment)
class HummingbotDeploymentAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    list_display = [
        "bot_link",
        "instance_link",
        "strategy_name",
        "signal_link",
        "config_version",
        "status_badge",
        "last_command",
        "updated_at",
    ]
    list_filter = [OrganizationListFilter, "status"]
    search_fields = ["bot__name", "instance__name", "strategy_name"]
    list_select_related = ["bot", "instance", "signal"]

    @admin.display(description="bot")
    def bot_link(self, obj):
        return admin_link(obj.bot)

    @admin.display(description="from signal")
    def signal_link(self, obj):
        return admin_link(obj.signal) if obj.signal_id else "—"

    @admin.display(description="instance")
    def instance_link(self, obj):
        return admin_link(obj.instance, obj.instance.name)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status)
