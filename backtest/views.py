"""A small REST surface for backtests: list, read (with results) and queue a new one. Mounted by
the project's URL configuration; authentication, errors and throttling are the API's own."""

from __future__ import annotations

from decimal import Decimal

from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from api.access import Access
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
    "status",
    "progress",
    "error",
    "created_at",
    "finished_at",
]


class BacktestSummarySerializer(serializers.ModelSerializer):
    capital = serializers.DecimalField(max_digits=38, decimal_places=18, coerce_to_string=True)

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

    def __init__(self, *args, access: Access, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = access.organizations()


class BacktestListView(APIView):
    """GET: the caller's backtests, newest first (results left out). POST: queue a backtest."""

    def get(self, request):
        rows = Access.of(request).scope(Backtest.objects.all()).order_by("-created_at")[:200]
        return Response(BacktestSummarySerializer(rows, many=True).data)

    def post(self, request):
        access = Access.of(request)
        data = BacktestCreateSerializer(data=request.data, access=access)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        organization = access.organization_for_write(fields.pop("organization", None))
        access.require_key(organization=organization, role=Role.TRADER, action="Running a backtest")
        backtest = backtest_create(organization=organization, user=access.service_user, **fields)
        return Response(BacktestDetailSerializer(backtest).data, status=status.HTTP_201_CREATED)


class BacktestDetailView(APIView):
    """GET: one backtest with its results; another organization's answers 404."""

    def get(self, request, pk: int):
        backtest = get_object_or_404(Access.of(request).scope(Backtest.objects.all()), pk=pk)
        return Response(BacktestDetailSerializer(backtest).data)
