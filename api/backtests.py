"""Backtests in the REST API (/api/v1/backtests/): list, read (with results) and queue a new one,
spot or perpetual. Authentication, scoping, pagination, errors and throttling are the API's own."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.access import Access
from api.views import ScopedViewSet
from backtest.models import Backtest
from backtest.services import RANKABLE, backtest_create
from organizations.models import Organization, Role

SUMMARY_FIELDS = [
    "id",
    "organization",
    "name",
    "strategy",
    "params",
    "sweep",
    "rank_by",
    "symbol",
    "timeframe",
    "start",
    "end",
    "capital",
    "market_type",
    "leverage",
    "margin_mode",
    "funding_rate",
    "funding_interval_hours",
    "max_leverage",
    "status",
    "progress",
    "error",
    "created_at",
    "finished_at",
]


class BacktestSummarySerializer(serializers.ModelSerializer):
    capital = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)
    leverage = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)
    funding_rate = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)
    max_leverage = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=True)

    class Meta:
        model = Backtest
        fields = SUMMARY_FIELDS
        read_only_fields = fields


class BacktestDetailSerializer(BacktestSummarySerializer):
    class Meta(BacktestSummarySerializer.Meta):
        fields = [*SUMMARY_FIELDS, "results"]
        read_only_fields = fields


class BacktestCreateSerializer(serializers.Serializer):
    organization = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all(), required=False)
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    strategy = serializers.CharField(max_length=64)
    params = serializers.DictField(required=False, default=dict)
    sweep = serializers.DictField(child=serializers.ListField(), required=False, default=dict)
    rank_by = serializers.ChoiceField(choices=RANKABLE, default="total_return_pct")
    symbol = serializers.CharField(max_length=32)
    timeframe = serializers.CharField(max_length=8, default="5m")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    capital = serializers.DecimalField(max_digits=38, decimal_places=18, default=Decimal("1000"))
    market_type = serializers.ChoiceField(choices=["spot", "perp"], default="spot")
    leverage = serializers.DecimalField(max_digits=6, decimal_places=2, default=Decimal("1"))
    margin_mode = serializers.ChoiceField(choices=["isolated", "cross"], default="isolated")
    funding_rate = serializers.DecimalField(max_digits=38, decimal_places=18, default=Decimal("0"))
    funding_interval_hours = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Empty: the exchange's interval."
    )
    max_leverage = serializers.DecimalField(max_digits=6, decimal_places=2, default=Decimal("50"))

    def __init__(self, *args, access: Access | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if access is not None:
            self.fields["organization"].queryset = access.organizations()


@extend_schema_view(
    list=extend_schema(summary="The caller's backtests, newest first (results left out)"),
    retrieve=extend_schema(summary="One backtest with its results"),
)
class BacktestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Backtests of the caller's organizations; another organization's answers 404."""

    model = Backtest
    serializer_class = BacktestSummarySerializer

    def get_queryset(self):
        rows = super().get_queryset()
        if self.action == "list":
            rows = rows.defer("results")
        return rows

    def get_serializer_class(self):
        return BacktestDetailSerializer if self.action == "retrieve" else BacktestSummarySerializer

    @extend_schema(
        request=BacktestCreateSerializer,
        responses={201: BacktestDetailSerializer},
        summary="Queue a backtest (or a parameter sweep); a worker runs it and reports progress",
    )
    def create(self, request: Request) -> Response:
        access = self.access
        data = BacktestCreateSerializer(data=request.data, access=access)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        organization = access.organization_for_write(fields.pop("organization", None))
        access.require_key(organization=organization, role=Role.TRADER, action="Running a backtest")
        backtest = backtest_create(organization=organization, user=access.service_user, **fields)
        return Response(BacktestDetailSerializer(backtest).data, status=status.HTTP_201_CREATED)
