"""Gateway connections, DEX wallets and DEX accounts for staff. Writes go through dex.services
(roles, checks, audit): the client key is write-only (never rendered, blank keeps it), a wallet is
added by pasting its private key once into a field that is sent to Gateway and never stored or
shown, and a DEX account's venue, Gateway and wallet are fixed once it is made."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core.errors import ApplicationError
from core.events import EventSource
from dex.models import DexAccount, DexSwap, DexWallet, GatewayConnection, Sniper, SnipeToken
from dex.services import (
    EDITABLE,
    connection_create,
    connection_update,
    connection_validate,
    connection_verify,
    dex_account_create,
    dex_account_update,
    wallet_add,
    wallets_sync,
)
from dex.sniper import RULES as SNIPER_RULES
from exchanges.models import ExchangeAccountStatus
from exchanges.services import exchange_account_verify
from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, ReadOnlyAdminMixin, badge


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


# -- DEX accounts -------------------------------------------------------------------------------------
def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class CommaListField(forms.CharField):
    """A list typed comma-separated ("SOL/USDC, JUP/USDC"); the services decide what is valid."""

    def prepare_value(self, value):
        return ", ".join(str(p) for p in value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        return _comma_list(super().to_python(value))


class WalletChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: DexWallet) -> str:
        return f"{obj.address} ({obj.label or obj.chain}, Gateway {obj.connection.name})"


def _form_error(form: forms.Form, exc: ApplicationError) -> None:
    """A service's refusal on the field it names, or over the form when it names none here."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


class DexAccountAddForm(forms.ModelForm):
    """Adding a DEX account creates it (and its exchange account) through dex_account_create
    during validation, so that a refusal shows on the field it names."""

    label = forms.CharField(max_length=120, help_text="The exchange account's name, unique in the organization.")
    pairs = CommaListField(
        initial="SOL/USDC", help_text="Comma-separated BASE/QUOTE symbols or mints: SOL/USDC, JUP/USDC."
    )
    paper_balances = forms.CharField(
        required=False,
        help_text='Paper accounts only: the starting balances, e.g. "USDC=1000, SOL=2".',
    )
    user = None  # set by the admin for the request

    class Meta:
        model = DexAccount
        fields = ["connection", "wallet", "label", "pairs", "slippage_bps", "quote_amount", "paper_balances"]
        field_classes = {"wallet": WalletChoiceField}
        help_texts = {"wallet": "Empty for a paper account; one of the chosen Gateway's wallets for a live one."}

    def clean_paper_balances(self) -> dict[str, str]:
        balances: dict[str, str] = {}
        for part in _comma_list(self.cleaned_data.get("paper_balances") or ""):
            asset, sep, amount = part.partition("=")
            if not sep or not asset.strip() or not amount.strip():
                raise ValidationError(f"Write each balance as TOKEN=amount, e.g. USDC=1000 (not {part!r}).")
            if asset.strip() in balances:
                raise ValidationError(f"{asset.strip()} is given twice.")
            balances[asset.strip()] = amount.strip()
        return balances

    def clean(self):
        data = super().clean()
        if self.errors or not data.get("connection"):
            return data
        connection = data["connection"]
        try:
            self.dex_account = dex_account_create(
                organization=connection.organization,
                connection=connection,
                wallet=data.get("wallet"),
                label=data["label"],
                pairs=data["pairs"],
                slippage_bps=data["slippage_bps"],
                quote_amount=data["quote_amount"],
                paper_balances=data.get("paper_balances") or None,
                user=self.user,
                source=EventSource.ADMIN,
            )
        except ApplicationError as exc:
            _form_error(self, exc)
        return data


class DexAccountChangeForm(forms.ModelForm):
    """Only the pairs and the slippage limit change, through dex_account_update during validation."""

    pairs = CommaListField(help_text="Comma-separated BASE/QUOTE symbols or mints: SOL/USDC, JUP/USDC.")
    user = None  # set by the admin for the request

    class Meta:
        model = DexAccount
        fields = ["pairs", "slippage_bps"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.dex_account = dex_account_update(
                dex_account=self.instance,
                pairs=data["pairs"],
                slippage_bps=data["slippage_bps"],
                user=self.user,
                source=EventSource.ADMIN,
            )
        except ApplicationError as exc:
            _form_error(self, exc)
        return data


ADD_FIELDS = ["connection", "wallet", "label", "pairs", "slippage_bps", "quote_amount", "paper_balances"]
SHOWN_FIELDS = [
    "account_label",
    "venue",
    "organization",
    "connection",
    "wallet_address",
    "pairs",
    "slippage_bps",
    "quote_amount",
    "account_status",
    "status_reason",
    "last_verified_at",
    "created_at",
]
CHANGEABLE = ["pairs", "slippage_bps"]


@admin.register(DexAccount)
class DexAccountAdmin(OrganizationScopedAdmin):
    """What makes an exchange account trade a DEX. Made here (or by the API) only: a bare exchange
    account cannot become one. Not deleted here either: its exchange account, bots and snipers
    would be left pointing at a venue with no Gateway."""

    list_display = [
        "account_label",
        "venue",
        "organization",
        "connection",
        "wallet_address",
        "pairs_list",
        "slippage_bps",
        "account_status",
    ]
    list_filter = [OrganizationListFilter, "account__status"]
    search_fields = ["account__label", "wallet__address", "connection__name"]
    list_select_related = ["account", "organization", "connection", "wallet"]
    actions = ["verify"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = DexAccountAddForm if obj is None else DexAccountChangeForm
        kwargs["form"] = type(f"{base.__name__}For", (base,), {"user": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ADD_FIELDS if obj is None else SHOWN_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else [name for name in SHOWN_FIELDS if name not in CHANGEABLE]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "wallet" and field is not None:
            field.queryset = field.queryset.select_related("connection")  # its label names the Gateway
        return field

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        saved = form.dex_account  # created or changed by the form's clean
        obj.pk, obj.organization_id, obj.account = saved.pk, saved.organization_id, saved.account

    @admin.display(description="account", ordering="account__label")
    def account_label(self, obj: DexAccount) -> str:
        return obj.account.label

    @admin.display(description="venue", ordering="account__exchange")
    def venue(self, obj: DexAccount) -> str:
        return "paper" if obj.is_paper else "live"

    @admin.display(description="wallet", ordering="wallet__address")
    def wallet_address(self, obj: DexAccount) -> str:
        return obj.wallet.address if obj.wallet_id else "— (paper)"

    @admin.display(description="pairs")
    def pairs_list(self, obj: DexAccount) -> str:
        return ", ".join(str(p) for p in obj.pairs or [])

    @admin.display(description="status", ordering="account__status")
    def account_status(self, obj: DexAccount) -> str:
        return badge(obj.account.status)

    @admin.display(description="status reason")
    def status_reason(self, obj: DexAccount) -> str:
        return obj.account.status_reason or "—"

    @admin.display(description="last verified")
    def last_verified_at(self, obj: DexAccount):
        return obj.account.last_verified_at

    @admin.action(description="Verify the selected DEX accounts (wallet key in Gateway, a quote per pair)")
    def verify(self, request, queryset):
        for dex in queryset:
            try:
                account = exchange_account_verify(account=dex.account, user=request.user, source=EventSource.ADMIN)
            except ApplicationError as exc:
                self.message_user(request, f"{dex.account.label}: {exc.message}", messages.ERROR)
                continue
            if account.status == ExchangeAccountStatus.ACTIVE:
                self.message_user(request, f"{account.label} verified: active.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"{account.label} failed verification: {account.status_reason}", messages.ERROR
                )


# -- snipers ----------------------------------------------------------------------------------------
SNIPER_ADD_FIELDS = ["account", "name", "source_url", "live", *(name for name in SNIPER_RULES if name != "enabled")]


class SniperAddForm(forms.ModelForm):
    """Adding a sniper creates it through dex.sniper.sniper_create during validation (paper unless
    live is ticked, which needs the admin role and a live DEX account)."""

    blacklist = CommaListField(required=False, help_text="Comma-separated mints, symbols or creators never bought.")
    source_url = forms.URLField(assume_scheme="https", help_text="The JSON feed of new tokens (docs/dex.md).")
    user = None

    class Meta:
        model = Sniper
        fields = SNIPER_ADD_FIELDS

    def clean(self):
        from dex.sniper import sniper_create

        data = super().clean()
        if self.errors or not data.get("account"):
            return data
        rules = {k: data[k] for k in SNIPER_ADD_FIELDS if k in SNIPER_RULES}
        try:
            self.sniper = sniper_create(
                organization=data["account"].organization,
                account=data["account"],
                name=data["name"],
                source_url=data["source_url"],
                live=data.get("live", False),
                user=self.user,
                source=EventSource.ADMIN,
                **rules,
            )
        except ApplicationError as exc:
            _form_error(self, exc)
        return data


@admin.register(Sniper)
class SniperAdmin(OrganizationScopedAdmin):
    """Snipers: added through sniper_create; afterwards shown read-only, with actions to run one
    now and to switch it on or off (each audited)."""

    list_display = ["name", "organization", "live", "enabled", "account", "last_polled_at", "last_error"]
    list_filter = [OrganizationListFilter, "live", "enabled"]
    search_fields = ["name", "source_url"]
    list_select_related = ["organization", "account__account"]
    actions = ["run_now", "enable", "disable"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type("SniperAddFormFor", (SniperAddForm,), {"user": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return SNIPER_ADD_FIELDS if obj is None else [*SNIPER_ADD_FIELDS, "enabled", "last_polled_at", "last_error"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            saved = form.sniper
            obj.pk, obj.organization_id = saved.pk, saved.organization_id

    @admin.action(description="Run the selected snipers now")
    def run_now(self, request, queryset):
        from dex.sniper import sniper_run

        for sniper in queryset:
            report = sniper_run(sniper=sniper)
            if report is None:
                self.message_user(request, f"{sniper.name}: a run is under way, or it is off.", messages.WARNING)
            else:
                self.message_user(
                    request,
                    f"{sniper.name}: {report.seen} new, {report.rejected} refused, {report.bought} bought, "
                    f"{report.sold} sold" + (f"; {'; '.join(report.errors)}" if report.errors else "") + ".",
                )

    def _switch(self, request, queryset, on: bool) -> None:
        from dex.sniper import sniper_enable

        for sniper in queryset:
            try:
                sniper_enable(sniper=sniper, enabled=on, user=request.user, source=EventSource.ADMIN)
            except ApplicationError as exc:
                self.message_user(request, f"{sniper.name}: {exc.message}", messages.ERROR)

    @admin.action(description="Switch the selected snipers on")
    def enable(self, request, queryset):
        self._switch(request, queryset, True)

    @admin.action(description="Switch the selected snipers off")
    def disable(self, request, queryset):
        self._switch(request, queryset, False)


@admin.register(SnipeToken)
class SnipeTokenAdmin(ReadOnlyAdminMixin, OrganizationScopedAdmin):
    """Every token a sniper saw, with its vetting and, when bought, its position and exit."""

    list_display = ["seen_at", "sniper", "symbol", "mint", "status", "reason", "cost_quote", "proceeds_quote"]
    list_filter = [OrganizationListFilter, "status", "exit_reason"]
    search_fields = ["mint", "symbol", "sniper__name"]
    list_select_related = ["sniper"]
