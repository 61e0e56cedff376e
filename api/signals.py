"""Signals in the REST API (/api/v1/signals/): sources, watched markets, signals with filters, the
evaluation, and the inbound webhook. Sources never show their webhook token's digest or signing
secret: both are returned once, by the rotate action."""

from __future__ import annotations

import django_filters
from django.db import models
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from api.errors import error_body
from api.filters import QueryFilterBackend
from api.schema import ApiAutoSchema
from api.serializers import (
    ErrorSerializer,
    FastRepresentationMixin,
    OrganizationField,
    ScopedPrimaryKeyRelatedField,
)
from api.views import RowListMixin, ScopedViewSet
from bots.models import Bot, BotMode
from core.errors import ApplicationError
from hummingbot.models import HummingbotDeployment
from hummingbot.signal_deploy import DIRECTIONAL_AS, HUMMINGBOT_KINDS, signal_deploy
from organizations.models import Organization, Role
from signals.evaluation import DEFAULT_HORIZONS, MAX_HORIZON
from signals.models import Signal, SignalKind, SignalSide, SignalSource, SourceKind, WatchedMarket
from signals.selectors import signal_evaluation
from signals.services import (
    source_create,
    source_delete,
    source_update,
    token_digest,
    watched_market_add,
    watched_market_remove,
    webhook_token_rotate,
)
from signals.webhooks import MAX_BODY_BYTES, WebhookRefused, webhook_receive

WEBHOOK_RATE = "120/min"


# -- serializers ------------------------------------------------------------------------------------
class SignalSourceSerializer(serializers.ModelSerializer):
    has_webhook_token = serializers.SerializerMethodField(help_text="Whether a webhook URL was made (rotate).")

    class Meta:
        model = SignalSource
        fields = [
            "id",
            "organization",
            "name",
            "kind",
            "weight",
            "enabled",
            "config",
            "alert_min_confidence",
            "has_webhook_token",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_webhook_token(self, obj: SignalSource) -> bool:
        return bool(obj.webhook_token_hash)


class SignalSourceWriteSerializer(serializers.Serializer):
    """The fields a caller may set; the service checks ranges and names."""

    # The queryset names the model for the schema; the field reads only the caller's organizations.
    organization = OrganizationField(queryset=Organization.objects.all(), required=False)
    name = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    weight = serializers.DecimalField(max_digits=6, decimal_places=3, required=False)
    enabled = serializers.BooleanField(required=False)
    config = serializers.DictField(required=False)
    alert_min_confidence = serializers.DecimalField(max_digits=5, decimal_places=4, required=False, allow_null=True)


class WebhookSecretSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The URL token; shown this once.")
    signing_secret = serializers.CharField(help_text="The HMAC-SHA256 key of signed calls; shown this once.")
    webhook_url = serializers.CharField(help_text="Where alerts are posted.")


class WatchedMarketSerializer(serializers.ModelSerializer):
    source = ScopedPrimaryKeyRelatedField(queryset=SignalSource.objects.all())

    class Meta:
        model = WatchedMarket
        fields = ["id", "organization", "source", "exchange", "symbol", "timeframe", "enabled", "last_bar_ts"]
        read_only_fields = ["id", "organization", "enabled", "last_bar_ts"]
        extra_kwargs = {"symbol": {"help_text": "BASE/QUOTE, e.g. BTC/USDT."}}
        # The service checks the market and its uniqueness (with a message naming the field).
        validators: list = []


class SignalSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = Signal
        fields = [
            "id",
            "organization",
            "source",
            "exchange",
            "symbol",
            "timeframe",
            "side",
            "kind",
            "confidence",
            "factors",
            "reasoning",
            "price",
            "bar_ts",
            "valid_until",
            "created_at",
        ]
        read_only_fields = fields


class HorizonStatsSerializer(serializers.Serializer):
    horizon = serializers.IntegerField(help_text="Bars after the signal's bar.")
    evaluated = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="The candle N bars later is not stored yet.")
    missing = serializers.IntegerField(help_text="A gap in the stored candles, or no exchange named.")
    hits = serializers.IntegerField()
    hit_rate_pct = serializers.FloatField(allow_null=True, help_text="Rounded to 2 decimals; null when none.")
    avg_return_pct = serializers.FloatField(
        allow_null=True, help_text="Sign-adjusted (a sell gains when the price falls), rounded to 4 decimals."
    )


class SourceEvaluationSerializer(serializers.Serializer):
    source_id = serializers.IntegerField()
    name = serializers.CharField()
    signals = serializers.IntegerField()
    directional = serializers.IntegerField()
    horizons = HorizonStatsSerializer(many=True)


class FactorEvaluationSerializer(serializers.Serializer):
    factor = serializers.CharField()
    votes = serializers.IntegerField(help_text="Signals whose side the factor's score agreed with.")
    horizons = HorizonStatsSerializer(many=True)


class EvaluationSerializer(serializers.Serializer):
    horizons = serializers.ListField(child=serializers.IntegerField())
    signals = serializers.IntegerField()
    directional = serializers.IntegerField()
    neutral = serializers.IntegerField()
    truncated = serializers.BooleanField(help_text="Only the newest signals were evaluated.")
    overall = HorizonStatsSerializer(many=True)
    sources = SourceEvaluationSerializer(many=True)
    factors = FactorEvaluationSerializer(many=True)


class EvaluationQuerySerializer(serializers.Serializer):
    horizon = serializers.CharField(
        required=False, help_text=f"Bars, comma-separated, 1 to {MAX_HORIZON} (default {DEFAULT_HORIZONS})."
    )
    source = serializers.IntegerField(required=False, min_value=1)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class WebhookAcceptedSerializer(serializers.Serializer):
    signal = serializers.IntegerField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    side = serializers.CharField()
    kind = serializers.CharField()


class SignalDeploySerializer(serializers.Serializer):
    bot = ScopedPrimaryKeyRelatedField(
        queryset=Bot.objects.select_related("exchange_account", "secondary_exchange_account"),
        help_text="A stopped bot of the signal's organization that runs on Hummingbot and trades its symbol.",
    )
    as_kind = serializers.ChoiceField(
        choices=sorted(set(HUMMINGBOT_KINDS) | set(DIRECTIONAL_AS)),
        required=False,
        allow_null=True,
        help_text="Directional and entry signals: market_making or grid. Others deploy as their own kind.",
    )
    order_amount = serializers.DecimalField(
        max_digits=30, decimal_places=12, required=False, allow_null=True, help_text="Default: the bot's order_amount."
    )
    lower = serializers.DecimalField(max_digits=30, decimal_places=12, required=False, allow_null=True)
    upper = serializers.DecimalField(max_digits=30, decimal_places=12, required=False, allow_null=True)
    levels = serializers.IntegerField(required=False, default=10, min_value=2, max_value=200)


class SignalDeploymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = HummingbotDeployment
        fields = ["id", "organization", "bot", "instance", "signal", "strategy_name", "config_file", "status"]
        read_only_fields = fields


# -- filters ----------------------------------------------------------------------------------------
class SignalFilter(django_filters.FilterSet):
    source = django_filters.NumberFilter(field_name="source_id")
    symbol = django_filters.CharFilter(method="filter_symbol")
    timeframe = django_filters.CharFilter()
    side = django_filters.ChoiceFilter(choices=SignalSide.choices)
    kind = django_filters.ChoiceFilter(choices=SignalKind.choices)
    min_confidence = django_filters.NumberFilter(field_name="confidence", lookup_expr="gte")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    valid = django_filters.BooleanFilter(method="filter_valid", help_text="true: valid_until is still ahead.")

    class Meta:
        model = Signal
        fields = ["source", "symbol", "timeframe", "side", "kind", "min_confidence", "since", "until", "valid"]

    def filter_symbol(self, queryset: models.QuerySet, name: str, value: str) -> models.QuerySet:
        return queryset.filter(symbol=value.strip().upper())

    def filter_valid(self, queryset: models.QuerySet, name: str, value: bool | None) -> models.QuerySet:
        if value is None:
            return queryset
        now = timezone.now()
        return queryset.filter(valid_until__gt=now) if value else queryset.filter(valid_until__lte=now)


# -- viewsets ---------------------------------------------------------------------------------------
def webhook_url(request: Request, token: str) -> str:
    return request.build_absolute_uri(f"/api/v1/signals/webhook/{token}/")


@extend_schema_view(
    list=extend_schema(summary="Signal sources"),
    retrieve=extend_schema(summary="A signal source"),
    destroy=extend_schema(summary="Remove a source with its signals (admin role)"),
)
class SignalSourceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ScopedViewSet):
    model = SignalSource
    serializer_class = SignalSourceSerializer

    def _written(self, row: SignalSource, code: int = status.HTTP_200_OK) -> Response:
        return Response(SignalSourceSerializer(row).data, status=code)

    @extend_schema(
        request=SignalSourceWriteSerializer,
        responses={201: SignalSourceSerializer},
        summary="Add a source (admin role); a webhook source gets its URL from rotate-webhook",
    )
    def create(self, request: Request) -> Response:
        body = SignalSourceWriteSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        organization = self.access.organization_for_write(values.pop("organization", None))
        self.access.require_key(organization=organization, role=Role.ADMIN, action="Adding a signal source")
        row = source_create(organization=organization, user=self.access.user, source=self.access.source, **values)
        return self._written(row, status.HTTP_201_CREATED)

    def _update(self, request: Request, *, partial: bool) -> Response:
        row = self.get_object()
        body = SignalSourceWriteSerializer(data=request.data, partial=partial, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        requested = values.pop("organization", None)
        if requested is not None and requested.pk != row.organization_id:
            raise ApplicationError("A source cannot move to another organization.", field="organization")
        self.access.require_key(organization=row.organization_id, role=Role.ADMIN, action="Changing a signal source")
        row = source_update(signal_source=row, user=self.access.user, source=self.access.source, **values)
        return self._written(row)

    @extend_schema(request=SignalSourceWriteSerializer, responses=SignalSourceSerializer, summary="Edit a source")
    def update(self, request: Request, pk: str | None = None) -> Response:
        return self._update(request, partial=False)

    @extend_schema(request=SignalSourceWriteSerializer, responses=SignalSourceSerializer, summary="Edit a source")
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._update(request, partial=True)

    def perform_destroy(self, instance: SignalSource) -> None:
        self.access.require_key(organization=instance.organization_id, role=Role.ADMIN, action="Removing a source")
        source_delete(signal_source=instance, user=self.access.user, source=self.access.source)

    @extend_schema(
        request=None,
        responses=WebhookSecretSerializer,
        summary="New webhook URL token and signing secret (admin role); shown once, the old URL stops at once",
    )
    @action(detail=True, methods=["post"], url_path="rotate-webhook")
    def rotate_webhook(self, request: Request, pk: str | None = None) -> Response:
        row = self.get_object()
        self.access.require_key(organization=row.organization_id, role=Role.ADMIN, action="Rotating a webhook secret")
        token, secret = webhook_token_rotate(signal_source=row, user=self.access.user, source=self.access.source)
        return Response({"token": token, "signing_secret": secret, "webhook_url": webhook_url(request, token)})


@extend_schema_view(
    list=extend_schema(summary="Markets whose signals are computed at each candle close"),
    retrieve=extend_schema(summary="A watched market"),
    create=extend_schema(summary="Watch a market with an engine or AI source (trader role)"),
    destroy=extend_schema(summary="Stop watching a market (trader role); its signals stay"),
)
class WatchedMarketViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    model = WatchedMarket
    serializer_class = WatchedMarketSerializer

    def perform_create(self, serializer: WatchedMarketSerializer) -> None:
        data = serializer.validated_data
        signal_source = data["source"]
        self.access.require_key(
            organization=signal_source.organization_id, role=Role.TRADER, action="Watching a market"
        )
        serializer.instance = watched_market_add(
            signal_source=signal_source,
            exchange=data["exchange"],
            symbol=data["symbol"],
            timeframe=data["timeframe"],
            user=self.access.user,
            source=self.access.source,
        )

    def perform_destroy(self, instance: WatchedMarket) -> None:
        self.access.require_key(organization=instance.organization_id, role=Role.TRADER, action="Unwatching a market")
        watched_market_remove(watched_market=instance, user=self.access.user, source=self.access.source)


@extend_schema_view(
    list=extend_schema(summary="Signals, newest first, with filters"),
    retrieve=extend_schema(summary="A signal with its factors and reasoning"),
)
class SignalViewSet(RowListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    model = Signal
    serializer_class = SignalSerializer
    filter_backends = [QueryFilterBackend]
    filterset_class = SignalFilter

    @extend_schema(
        request=SignalDeploySerializer,
        responses={201: SignalDeploymentSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        summary="Convert the signal to a Hummingbot config and deploy it on a bot (trader role)",
        description="See docs/hummingbot.md, Signals: which strategy each signal kind becomes.",
    )
    @action(detail=True, methods=["post"])
    def deploy(self, request: Request, pk: str | None = None) -> Response:
        signal = self.get_object()
        body = SignalDeploySerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        values = body.validated_data
        bot = values.pop("bot")
        self.access.require(organization=bot.organization_id, role=Role.TRADER, action="Deploying a signal")
        if bot.mode == BotMode.LIVE:
            self.access.require(organization=bot.organization_id, role=Role.ADMIN, action="Deploying a signal (live)")
        deployment = signal_deploy(
            signal=signal, bot=bot, user=self.access.service_user, source=self.access.source, **values
        )
        self.audit(
            organization_id=bot.organization_id,
            bot=bot,
            kind="api.signal_deploy",
            message=f"Signal {signal.pk} deployment requested",
        )
        return Response(SignalDeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[EvaluationQuerySerializer],
        responses=EvaluationSerializer,
        summary="Hit rate and average forward return at N bars, overall, per source and per factor",
        description="Over the stored signals and candles; see docs/signals_api.md for the definitions.",
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def evaluation(self, request: Request) -> Response:
        query = EvaluationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        report = signal_evaluation(
            signals=self.access.scope(Signal.objects.all()),
            horizons=params.get("horizon"),
            since=params.get("since"),
            until=params.get("until"),
            source_id=params.get("source"),
        )
        return Response(EvaluationSerializer(report).data)


# -- inbound webhook --------------------------------------------------------------------------------
class WebhookTokenThrottle(SimpleRateThrottle):
    """Per URL token, not per address: TradingView posts every customer's alerts from a few
    addresses. Rate `signal_webhook` in DEFAULT_THROTTLE_RATES, else WEBHOOK_RATE."""

    scope = "signal_webhook"

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope, WEBHOOK_RATE)

    def get_cache_key(self, request, view) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": token_digest(view.kwargs.get("token", ""))}


TOKEN = OpenApiParameter("token", OpenApiTypes.STR, OpenApiParameter.PATH, description="The source's URL token.")


class SignalWebhookView(APIView):
    """POST a TradingView-style alert; the URL token is the credential (signals/webhooks.py)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [WebhookTokenThrottle]
    schema = ApiAutoSchema()

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[TOKEN],
        responses={
            201: WebhookAcceptedSerializer,
            409: OpenApiResponse(ErrorSerializer, description="A replay: this alert was already received."),
        },
        auth=[],
        summary="Record a signal from a TradingView-style alert (optionally HMAC-signed)",
    )
    def post(self, request: Request, token: str) -> Response:
        # The raw body, as signed: never the parsed data (TradingView also sends JSON as text/plain).
        # One byte past the limit is enough to refuse it, and Django's own limit never answers first.
        body = request._request.read(MAX_BODY_BYTES + 1)
        try:
            signal = webhook_receive(
                token=token,
                body=body,
                signature=request.headers.get("X-Signature"),
                timestamp=request.headers.get("X-Timestamp"),
            )
        except WebhookRefused as exc:
            return Response(error_body(code=exc.code, message=exc.message, field=exc.field), status=exc.status)
        return Response(
            {
                "signal": signal.pk,
                "symbol": signal.symbol,
                "timeframe": signal.timeframe,
                "side": signal.side,
                "kind": signal.kind,
            },
            status=status.HTTP_201_CREATED,
        )
