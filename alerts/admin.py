from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from alerts.models import Alert, AlertChannel, AlertDelivery, AlertRule
from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, ReadOnlyAdminMixin, badge
from organizations.tenancy import organization_ids_for_user

SECRET_FIELDS = ("bot_token", "webhook_url", "signing_secret")


class AlertChannelForm(forms.ModelForm):
    """Secrets are write-only: the inputs never render the stored value, and leaving one blank
    when editing keeps what is stored."""

    bot_token = forms.CharField(required=False, strip=True, widget=forms.PasswordInput(render_value=False))
    webhook_url = forms.CharField(required=False, strip=True, widget=forms.PasswordInput(render_value=False))
    signing_secret = forms.CharField(required=False, strip=True, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = AlertChannel
        fields = ["organization", "name", "kind", "enabled", "config", *SECRET_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            self.initial.pop(name, None)
            if self.instance.pk:
                stored = getattr(self.instance, f"masked_{name}") or "nothing"
                self.fields[name].help_text = f"Stored: {stored}. Leave blank to keep it."

    def _keep_unless_given(self, name: str) -> str:
        value = self.cleaned_data.get(name, "")
        if not value and self.instance.pk:
            return getattr(self.instance, name)
        return value

    def clean_bot_token(self):
        return self._keep_unless_given("bot_token")

    def clean_webhook_url(self):
        return self._keep_unless_given("webhook_url")

    def clean_signing_secret(self):
        return self._keep_unless_given("signing_secret")


@admin.register(AlertChannel)
class AlertChannelAdmin(OrganizationScopedAdmin):
    form = AlertChannelForm
    list_display = ["name", "organization", "kind", "enabled", "target"]
    list_filter = [OrganizationListFilter, "kind", "enabled"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization"]
    readonly_fields = ["masked_bot_token", "masked_webhook_url", "masked_signing_secret", "created_at", "updated_at"]

    @admin.display(description="target")
    def target(self, obj):
        config = obj.config or {}
        if obj.kind == "email":
            return ", ".join(config.get("emails") or []) or "—"
        if obj.kind == "telegram":
            return f"chat {config.get('chat_id', '—')}"
        if obj.kind == "members":
            return f"linked members, {config.get('min_role', 'viewer')} and up"
        return obj.masked_webhook_url or "—"

    @admin.display(description="bot token")
    def masked_bot_token(self, obj):
        return obj.masked_bot_token or "—"

    @admin.display(description="webhook URL")
    def masked_webhook_url(self, obj):
        return obj.masked_webhook_url or "—"

    @admin.display(description="signing secret")
    def masked_signing_secret(self, obj):
        return obj.masked_signing_secret or "—"


@admin.register(AlertRule)
class AlertRuleAdmin(OrganizationScopedAdmin):
    list_display = ["name", "organization", "kinds", "min_level", "enabled", "dedupe_seconds"]
    list_filter = [OrganizationListFilter, "min_level", "enabled"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization"]
    filter_horizontal = ["channels"]

    @admin.display(description="event kinds")
    def kinds(self, obj):
        return ", ".join(obj.event_kinds or [])

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "channels" and not request.user.is_superuser:
            kwargs["queryset"] = AlertChannel.objects.filter(
                organization_id__in=organization_ids_for_user(request.user)
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class SameOrganizationForm(form_class):
            def clean(self):
                data = super().clean()
                org = data.get("organization") or getattr(self.instance, "organization", None)
                others = [c for c in data.get("channels") or [] if org is not None and c.organization_id != org.pk]
                if others:
                    raise ValidationError({"channels": f"{others[0]} belongs to another organization."})
                return data

        return SameOrganizationForm


class DeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = ["channel", "status", "attempts", "last_error", "sent_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    list_display = ["title", "organization", "level_badge", "kind", "count", "first_at", "last_at", "status"]
    list_filter = [OrganizationListFilter, "level", "status"]
    search_fields = ["title", "kind", "message"]
    list_select_related = ["organization"]
    date_hierarchy = "first_at"
    inlines = [DeliveryInline]

    @admin.display(description="level", ordering="level")
    def level_badge(self, obj):
        return badge(obj.level)


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    list_display = ["alert", "channel", "status", "attempts", "last_error", "sent_at"]
    list_filter = [OrganizationListFilter, "status"]
    list_select_related = ["alert", "channel"]
