from django import forms
from django.contrib import admin

from exchanges.models import ExchangeAccount
from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, admin_link, badge

SECRET_FIELDS = ("api_key", "api_secret", "passphrase")


class ExchangeAccountForm(forms.ModelForm):
    """Secrets are write-only: the inputs never render the stored value, and leaving one blank
    when editing keeps what is stored."""

    api_key = forms.CharField(required=False, strip=True, widget=forms.PasswordInput(render_value=False))
    api_secret = forms.CharField(required=False, strip=True, widget=forms.PasswordInput(render_value=False))
    passphrase = forms.CharField(required=False, strip=True, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = ExchangeAccount
        fields = ["organization", "label", "exchange", "is_testnet", *SECRET_FIELDS, "status", "status_reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            # Never let the stored plaintext travel into the page, not even as a hidden initial.
            self.initial.pop(name, None)
            if self.instance.pk:
                self.fields[name].help_text = "Stored: {}. Leave blank to keep it.".format(
                    getattr(self.instance, f"masked_{name}") or "nothing"
                )

    def _keep_unless_given(self, name: str) -> str:
        value = self.cleaned_data.get(name, "")
        if not value and self.instance.pk:
            return getattr(self.instance, name)
        return value

    def clean_api_key(self):
        return self._keep_unless_given("api_key")

    def clean_api_secret(self):
        return self._keep_unless_given("api_secret")

    def clean_passphrase(self):
        return self._keep_unless_given("passphrase")


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(OrganizationScopedAdmin):
    form = ExchangeAccountForm
    list_display = [
        "label",
        "org",
        "exchange",
        "is_testnet",
        "status_badge",
        "circuit_badge",
        "masked_api_key",
        "last_verified_at",
    ]
    list_filter = [OrganizationListFilter, "exchange", "status", "circuit_state", "is_testnet"]
    search_fields = ["label", "exchange", "organization__name"]
    list_select_related = ["organization"]
    readonly_fields = [
        "masked_api_key",
        "masked_api_secret",
        "masked_passphrase",
        "last_verified_at",
        "circuit_state",
        "circuit_changed_at",
        "consecutive_failures",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="organization", ordering="organization__name")
    def org(self, obj):
        return admin_link(obj.organization)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status)

    @admin.display(description="circuit", ordering="circuit_state")
    def circuit_badge(self, obj):
        return badge(obj.circuit_state)

    @admin.display(description="API key")
    def masked_api_key(self, obj):
        return obj.masked_api_key or "—"

    @admin.display(description="API secret")
    def masked_api_secret(self, obj):
        return obj.masked_api_secret or "—"

    @admin.display(description="passphrase")
    def masked_passphrase(self, obj):
        return obj.masked_passphrase or "—"
