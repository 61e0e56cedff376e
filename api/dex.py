"""DEX trading in the REST API (/api/v1/dex/): Gateway connections (with their check), the wallets
registered through them, the swaps with their signatures and states, and the DEX accounts bots
trade through them. A connection never shows its client key; a wallet's private key is taken
once, on add, and never returned."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import QueryFilterBackend
from api.serializers import ErrorSerializer, ScopedPrimaryKeyRelatedField
from api.views import ScopedViewSet
from dex.models import DEX_LIVE, DEX_PAPER, DexAccount, DexSwap, DexWallet, GatewayConnection, SwapSide, SwapStatus
from dex.services import (
    DEX_ACCOUNT_EDITABLE,
    connection_verify,
    dex_account_create,
    dex_account_update,
    wallet_add,
    wallet_remove,
)
from exchanges.models import ExchangeAccountStatus
from exchanges.services import exchange_account_verify
from organizations.models import Role


class GatewayConnectionSerializer(serializers.ModelSerializer):
    client_certificate = serializers.SerializerMethodField(help_text="Whether a client certificate and key are set.")

    class Meta:
        model = GatewayConnection
        fields = [
            "id",
            "organization",
            "name",
            "url",
            "network",
            "client_certificate",
            "status",
            "status_reason",
            "last_verified_at",
            "block_number",
            "rpc_provider",
            "swap_provider",
            "created_at",
        ]
        read_only_fields = fields

    def get_client_certificate(self, obj: GatewayConnection) -> bool:
        return bool(obj.client_cert and obj.client_key)


class DexWalletSerializer(serializers.ModelSerializer):
    class Meta:
        model = DexWallet
        fields = ["id", "organization", "connection", "chain", "address", "label", "created_at"]
        read_only_fields = fields


class DexWalletAddSerializer(serializers.Serializer):
    connection = ScopedPrimaryKeyRelatedField(queryset=GatewayConnection.objects.all())
    private_key = serializers.CharField(
        write_only=True, trim_whitespace=True, help_text="Base58; sent to Gateway once."
    )
    label = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")


class DexSwapSerializer(serializers.ModelSerializer):
    wallet_address = serializers.CharField(source="wallet.address", read_only=True)

    class Meta:
        model = DexSwap
        fields = [
            "id",
            "organization",
            "wallet",
            "wallet_address",
            "intent_key",
            "side",
            "amount",
            "base",
            "quote",
            "slippage_bps",
            "status",
            "signature",
            "quoted_price",
            "limit_amount",
            "amount_in",
            "amount_out",
            "fee",
            "error",
            "polls",
            "created_at",
            "submitted_at",
            "finished_at",
        ]
        read_only_fields = fields


class DexSwapFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SwapStatus.choices)
    side = django_filters.ChoiceFilter(choices=SwapSide.choices)
    wallet = django_filters.NumberFilter(field_name="wallet_id")
    signature = django_filters.CharFilter()

    class Meta:
        model = DexSwap
        fields = ["status", "side", "wallet", "signature"]


class DexAccountSerializer(serializers.ModelSerializer):
    label = serializers.CharField(source="account.label", read_only=True)
    exchange_account = serializers.IntegerField(source="account_id", read_only=True, help_text="Its exchange account.")
    venue = serializers.ChoiceField(
        source="account.exchange",
        choices=[(DEX_LIVE, "Live swaps"), (DEX_PAPER, "Paper (simulated fills)")],
        read_only=True,
    )
    paper = serializers.BooleanField(source="is_paper", read_only=True, help_text="No wallet: fills are simulated.")
    connection_name = serializers.CharField(source="connection.name", read_only=True)
    wallet_address = serializers.CharField(source="wallet.address", read_only=True, allow_null=True)
    pairs = serializers.ListField(child=serializers.CharField(), read_only=True)
    status = serializers.ChoiceField(source="account.status", choices=ExchangeAccountStatus.choices, read_only=True)
    status_reason = serializers.CharField(source="account.status_reason", read_only=True)
    last_verified_at = serializers.DateTimeField(source="account.last_verified_at", read_only=True, allow_null=True)

    class Meta:
        model = DexAccount
        fields = [
            "id",
            "organization",
            "label",
            "exchange_account",
            "venue",
            "paper",
            "connection",
            "connection_name",
            "wallet",
            "wallet_address",
            "pairs",
            "slippage_bps",
            "quote_amount",
            "status",
            "status_reason",
            "last_verified_at",
            "created_at",
        ]
        read_only_fields = fields


class DexAccountCreateSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=120, help_text="The exchange account's name, unique in the organization.")
    connection = ScopedPrimaryKeyRelatedField(
        queryset=GatewayConnection.objects.all(), help_text="The Gateway; the account joins its organization."
    )
    wallet = ScopedPrimaryKeyRelatedField(
        queryset=DexWallet.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="One of the Gateway's wallets (live), or null for a paper account.",
    )
    pairs = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text='BASE/QUOTE symbols or mints; ["SOL/USDC"] if left out.',
    )
    slippage_bps = serializers.IntegerField(required=False, help_text="1 to 5000; 50 if left out.")
    quote_amount = serializers.DecimalField(
        max_digits=38, decimal_places=18, required=False, help_text="Base amount prices are quoted for; 1 if left out."
    )
    paper_balances = serializers.DictField(
        child=serializers.DecimalField(max_digits=38, decimal_places=18),
        required=False,
        help_text='Paper accounts only: starting balances, e.g. {"USDC": "1000"}.',
    )


class DexAccountUpdateSerializer(serializers.Serializer):
    pairs = serializers.ListField(child=serializers.CharField(), required=False)
    slippage_bps = serializers.IntegerField(required=False, help_text="1 to 5000.")

    def validate(self, attrs: dict) -> dict:
        fixed = sorted(set(self.initial_data) - set(DEX_ACCOUNT_EDITABLE))
        if fixed:
            raise serializers.ValidationError(
                {fixed[0]: "Only pairs and slippage_bps change; the rest of a DEX account is fixed once made."}
            )
        return attrs


class DexAccountFilter(django_filters.FilterSet):
    connection = django_filters.NumberFilter(field_name="connection_id")
    wallet = django_filters.NumberFilter(field_name="wallet_id")
    paper = django_filters.BooleanFilter(field_name="wallet", lookup_expr="isnull")
    status = django_filters.ChoiceFilter(field_name="account__status", choices=ExchangeAccountStatus.choices)

    class Meta:
        model = DexAccount
        fields = ["connection", "wallet", "paper", "status"]


@extend_schema_view(list=extend_schema(summary="Gateway connections"), retrieve=extend_schema(summary="A Gateway"))
class GatewayConnectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    model = GatewayConnection
    serializer_class = GatewayConnectionSerializer

    @extend_schema(
        request=None,
        responses={200: GatewayConnectionSerializer, 403: ErrorSerializer},
        summary="Check the Gateway by its status routes (trader role)",
        description="The outcome is in `status` (`active` with the slot, or `error`) and `status_reason`.",
    )
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        connection = self.get_object()
        self.access.require_key(organization=connection.organization_id, role=Role.TRADER, action="Checking a Gateway")
        connection = connection_verify(connection=connection, user=self.access.service_user, source=self.access.source)
        return Response(GatewayConnectionSerializer(connection).data)


@extend_schema_view(
    list=extend_schema(summary="DEX wallets (addresses only)"),
    retrieve=extend_schema(summary="A DEX wallet"),
    destroy=extend_schema(summary="Remove the wallet from Gateway and forget it (admin role)"),
)
class DexWalletViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ScopedViewSet):
    model = DexWallet
    serializer_class = DexWalletSerializer

    @extend_schema(
        request=DexWalletAddSerializer,
        responses={201: DexWalletSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        summary="Register a Solana wallet through Gateway (admin role); only its address is kept",
    )
    def create(self, request: Request) -> Response:
        body = DexWalletAddSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        connection = body.validated_data["connection"]
        self.access.require_key(organization=connection.organization_id, role=Role.ADMIN, action="Adding a wallet")
        wallet = wallet_add(
            connection=connection,
            private_key=body.validated_data["private_key"],
            label=body.validated_data.get("label") or "",
            user=self.access.service_user,
            source=self.access.source,
        )
        return Response(DexWalletSerializer(wallet).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: DexWallet) -> None:
        self.access.require_key(organization=instance.organization_id, role=Role.ADMIN, action="Removing a wallet")
        wallet_remove(wallet=instance, user=self.access.service_user, source=self.access.source)


@extend_schema_view(
    list=extend_schema(summary="DEX swaps, newest first, with their signatures and states"),
    retrieve=extend_schema(summary="A DEX swap"),
)
class DexSwapViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    model = DexSwap
    serializer_class = DexSwapSerializer
    filter_backends = [QueryFilterBackend]
    filterset_class = DexSwapFilter

    def base_queryset(self):
        return DexSwap.objects.select_related("wallet")


@extend_schema_view(
    list=extend_schema(summary="DEX accounts: the exchange accounts bots trade Jupiter with"),
    retrieve=extend_schema(summary="A DEX account"),
)
class DexAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    model = DexAccount
    serializer_class = DexAccountSerializer
    filter_backends = [QueryFilterBackend]
    filterset_class = DexAccountFilter

    def base_queryset(self):
        return DexAccount.objects.select_related("account", "connection", "wallet")

    @extend_schema(
        request=DexAccountCreateSerializer,
        responses={201: DexAccountSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        summary="Add a DEX account (admin role): live with a wallet, paper without",
        description="It starts `unverified`; `verify` checks that Gateway holds the wallet's key and quotes "
        "every pair.",
    )
    def create(self, request: Request) -> Response:
        body = DexAccountCreateSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        connection = values.pop("connection")
        self.access.require_key(organization=connection.organization_id, role=Role.ADMIN, action="Adding a DEX account")
        dex = dex_account_create(
            organization=connection.organization,
            connection=connection,
            user=self.access.service_user,
            source=self.access.source,
            **values,
        )
        return Response(DexAccountSerializer(dex).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=DexAccountUpdateSerializer,
        responses={200: DexAccountSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        summary="Change a DEX account's pairs or slippage limit (admin role)",
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        dex = self.get_object()
        body = DexAccountUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.access.require_key(organization=dex.organization_id, role=Role.ADMIN, action="Changing a DEX account")
        dex = dex_account_update(
            dex_account=dex, user=self.access.service_user, source=self.access.source, **body.validated_data
        )
        return Response(DexAccountSerializer(dex).data)

    @extend_schema(
        request=None,
        responses={200: DexAccountSerializer, 403: ErrorSerializer},
        summary="Verify the account (admin role): Gateway holds the wallet's key and quotes every pair",
        description="The outcome is in `status` (`active` with `last_verified_at`, or `error`) and `status_reason`.",
    )
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        dex = self.get_object()
        self.access.require_key(organization=dex.organization_id, role=Role.ADMIN, action="Verifying a DEX account")
        dex.account = exchange_account_verify(
            account=dex.account,
            user=self.access.service_user,
            source=self.access.source,
            audit_data=self.access.audit_data(),
        )
        return Response(DexAccountSerializer(dex).data)
