"""Gateway connections and DEX wallets for staff. Writes go through dex.services (roles, checks,
audit): the client key is write-only (never rendered, blank keeps it), and a wallet is added by
pasting its private key once into a field that is sent to Gateway and never stored or shown."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core.errors import ApplicationError
from core.events import EventSource
from dex.models import DexSwap, DexWallet, GatewayConnection
from dex.services import (
    EDITABLE,
    connection_create,
    connection_update,
    connection_validate,
    connection_verify,
    wallet_add,
    wallets_sync,
)
from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, ReadOnlyAdminMixin


class GatewayConnectionForm(forms.ModelForm):
    url = forms.URLField(assume_scheme="https", help_text=GatewayConnection._meta.get_field("url").help_text)
    client_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="PEM key of the client certificate.",
    )

    class Meta:
        model = GatewayConnection
        fields = ["organization", "name", "url", "network", "client_cert", "client_key", "ca_cert"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.pop("client_key", None)
        if self.instance.pk:
            stored = self.instance.masked_client_key or "nothing"
            self.fields["client_key"].help_text = f"Stored: {stored}. Leave blank to keep it."

    def clean(self):
        data = super().clean()
        if self.instance.pk and not data.get("client_key"):
            data["client_key"] = self.instance.client_key
        probe = GatewayConnection(**{name: data.get(name) or "" for name in EDITABLE})
        probe.organization = data.get("organization") or getattr(self.instance, "organization", None)
        try:
            connection_validate(probe)
        except ApplicationError as exc:
            if exc.field in self.fields:
                self.add_error(exc.field, exc.message)
            else:
                raise ValidationError(exc.message) from exc
        return data


@admin.register(GatewayConnection)
class GatewayConnectionAdmin(OrganizationScopedAdmin):
    form = GatewayConnectionForm
    list_display = ["name", "organization", "url", "network", "status", "block_number", "last_verified_at"]
    list_filter = [OrganizationListFilter, "status"]
    readonly_fields = ["status", "status_reason", "block_number", "rpc_provider", "swap_provider", "last_verified_at"]
    actions = ["verify", "sync_wallets"]

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in EDITABLE if name in form.cleaned_data}
        try:
            if change:
                saved = connection_update(connection=obj, user=request.user, source=EventSource.ADMIN, **values)
            else:
                saved = connection_create(
                    organization=form.cleaned_data["organization"],
                    user=request.user,
                    source=EventSource.ADMIN,
                    **values,
                )
        except ApplicationError as exc:  # a name taken between the form's check and the save
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = saved.pk

    @admin.action(description="Check the selected Gateways (status routes)")
    def verify(self, request, queryset):
        self.run_service(
            request,
            queryset,
            lambda c: connection_verify(connection=c, user=request.user, source=EventSource.ADMIN),
            "Checked",
        )

    @admin.action(description="Take in the wallets Gateway holds")
    def sync_wallets(self, request, queryset):
        self.run_service(
            request, queryset, lambda c: wallets_sync(connection=c, user=request.user, source=EventSource.ADMIN), "Read"
        )


class DexWalletAddForm(forms.ModelForm):
    """Adding a wallet registers it in Gateway during validation (so a refusal shows on the form);
    the key field is never rendered back."""

    private_key = forms.CharField(
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="The wallet's base58 secret key. It goes to Gateway once and is not kept here.",
    )
    user = None  # set by the admin for the request

    class Meta:
        model = DexWallet
        fields = ["connection", "label"]

    def clean(self):
        data = super().clean()
        if self.errors or not data.get("connection"):
            return data
        try:
            self.wallet = wallet_add(
                connection=data["connection"],
                private_key=data.pop("private_key", ""),
                label=data.get("label") or "",
                user=self.user,
                source=EventSource.ADMIN,
            )
        except ApplicationError as exc:
            self.add_error("private_key" if exc.field == "private_key" else None, exc.message)
        return data


@admin.register(DexWallet)
class DexWalletAdmin(OrganizationScopedAdmin):
    list_display = ["address", "label", "chain", "connection", "organization", "created_at"]
    list_filter = [OrganizationListFilter, "chain"]
    search_fields = ["address", "label"]
    readonly_fields = ["address", "chain", "organization", "created_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type("DexWalletAddFormFor", (DexWalletAddForm,), {"user": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["connection", "label", "private_key"] if obj is None else ["address", "label", "chain", "connection"]

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        wallet = form.wallet  # registered and saved by the form's clean
        obj.pk, obj.organization_id, obj.address, obj.chain = (
            wallet.pk,
            wallet.organization_id,
            wallet.address,
            wallet.chain,
        )


@admin.register(DexSwap)
class DexSwapAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    """Swaps as the chain settled them, with their signatures; written only by dex.swaps."""

    list_display = [
        "created_at",
        "wallet",
        "side",
        "amount",
        "base",
        "quote",
        "status",
        "signature",
        "amount_out",
        "fee",
    ]
    list_filter = [OrganizationListFilter, "status", "side"]
    search_fields = ["signature", "intent_key", "wallet__address"]
    list_select_related = ["wallet"]
