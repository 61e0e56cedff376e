"""DEX trading in the REST API (/api/v1/dex/): Gateway connections (with their check), the wallets
registered through them, and the swaps with their signatures and states. A connection never
shows its client key; a wallet's private key is taken once, on add, and never returned."""

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
from dex.models import DexSwap, DexWallet, GatewayConnection, SwapSide, SwapStatus
from dex.services import connection_verify, wallet_add, wallet_remove
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
