from django import forms
from django.contrib import admin

from exchanges import venues
from exchanges.models import ExchangeAccount
from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, admin_link, badge

SECRET_FIELDS = venues.ALL_CREDENTIALS
FORM_FIELDS = ["organization", "label", "exchange", "is_testnet", *SECRET_FIELDS, "status", "status_reason"]


class ExchangeAccountForm(forms.ModelForm):
    """Secrets are write-only: the inputs never render the stored value, and leaving one blank
    when editing keeps what is stored. An existing account shows only the credentials its
    exchange needs; adding one shows them all, and a credential the exchange does not take is
    refused by the model."""

    class Meta:
        model = ExchangeAccount
        fields = FORM_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            if name not in self.fields:
                continue
            self.fields[name] = forms.CharField(
                label=venues.CREDENTIAL_LABELS[name],
                required=False,
                strip=True,
                widget=forms.PasswordInput(render_value=False),
            )
            # Never let the stored plaintext travel into the page, not even as a hidden initial.
            self.initial.pop(name, None)
            if self.instance.pk:
                self.fields[name].help_text = "Stored: {}. Leave blank to keep it.".format(
                    getattr(self.instance, f"masked_{name}") or "nothing"
                )
            else:
                self.fields[name].help_text = _needed_by(name)

    def clean(self):
        data = super().clean()
        for name in SECRET_FIELDS:
            if name in self.fields and not data.get(name) and self.instance.pk:
                data[name] = getattr(self.instance, name)
                setattr(self.instance, name, data[name])
        exchange = data.get("exchange")
        if exchange and self.instance.pk and exchange != self.initial.get("exchange"):
            # Another exchange: the old exchange's credentials mean nothing to it.
            for name in SECRET_FIELDS:
                if name not in venues.credential_fields(exchange) and name not in self.changed_data:
                    data[name] = ""
                    setattr(self.instance, name, "")
        return data


def _needed_by(name: str) -> str:
    users = {
        "api_key": "Binance, Bybit, OKX and most exchanges.",
        "api_secret": "Binance, Bybit, OKX and most exchanges.",
        "passphrase": "OKX, KuCoin and others that ask for one.",
        "wallet_address": "Hyperliquid.",
        "private_key": "Hyperliquid (the wallet's key or an API wallet's).",
    }
    return f"Needed by {users[name]} Leave blank if the exchange does not take it."


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
        "masked_wallet_address",
        "masked_private_key",
        "last_verified_at",
        "circuit_state",
        "circuit_changed_at",
        "consecutive_failures",
        "created_at",
        "updated_at",
    ]

    def get_fields(self, request, obj=None):
        """An account shows the credential fields of its exchange only (none for paper)."""
        fields = super().get_fields(request, obj)
        if obj is None:
            return fields
        wanted = set(obj.credential_fields)
        hidden = {name for name in SECRET_FIELDS if name not in wanted}
        hidden |= {f"masked_{name}" for name in hidden}
        return [name for name in fields if name not in hidden]

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

    @admin.display(description="wallet address")
    def masked_wallet_address(self, obj):
        return obj.masked_wallet_address or "—"

    @admin.display(description="private key")
    def masked_private_key(self, obj):
        return obj.masked_private_key or "—"
