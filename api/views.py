"""The REST API: thin viewsets that scope every read to the caller's organizations and hand
every write to a service (or the model's own validation) after a role or scope check."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.db.models import Q
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import serializers as s
from api.access import Access, IsMemberOrApiKey
from api.errors import error_body
from api.filters import FillFilter, OrderFilter, QueryFilterBackend
from api.pagination import IdCursorPagination
from api.schema import ApiAutoSchema
from bots.metrics import bot_metrics
from bots.models import Bot, BotEvent, BotMode, EventLevel, Fill, FundingPayment, Order, Position
from bots.runtime import manual_order_place
from bots.services import bot_create, bot_event_record, bot_restart, bot_start, bot_stop, bot_update
from core.errors import ApplicationError
from exchanges.models import ExchangeAccount
from exchanges.services import exchange_account_create, exchange_account_update, exchange_account_verify
from hummingbot.models import HummingbotDeployment, HummingbotInstance
from hummingbot.services import instance_export
from organizations.models import Membership, Organization, Role
from risk.models import KillSwitch, RiskLimits
from risk.services import kill_switch_action_set, kill_switch_engage, kill_switch_release
from strategies.registry import all_specs


@csrf_exempt
def not_found(request, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under the API answer in the API's error shape, whatever the method (exempt
    from CSRF like every API view, or a POST would get the HTML CSRF page instead)."""
    return JsonResponse(error_body(code="not_found", message="Not found."), status=404)


def _full_clean(instance: models.Model) -> None:
    """Run the model's own validation (fields, clean, constraints) and report it as a 400."""
    try:
        instance.full_clean()
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        raise serializers.ValidationError(detail) from exc


class PingView(APIView):
    """The cheapest authenticated call: credentials, throttles and the error shape, no query of our
    own. For monitoring a key, and the baseline the API benchmark compares the lists against."""

    permission_classes = [IsMemberOrApiKey]
    schema = ApiAutoSchema()

    @extend_schema(request=None, responses=s.PingSerializer, summary="Check the credentials; answers {ok: true}")
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class ScopedViewSet(viewsets.GenericViewSet):
    """Every queryset through the caller's organizations: another organization's row is a 404."""

    permission_classes = [IsMemberOrApiKey]
    pagination_class = IdCursorPagination
    schema = ApiAutoSchema()
    model: type[models.Model]

    @property
    def access(self) -> Access:
        return Access.of(self.request)

    def base_queryset(self) -> models.QuerySet:
        return self.model.objects.all()

    def get_queryset(self) -> models.QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.access.scope(self.base_queryset())

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["access"] = self.access
        return context

    def audit(self, *, organization_id: int, kind: str, message: str, bot: Bot | None = None) -> None:
        """Services record a member as the actor; an API key acts as the system, so name the key."""
        if self.access.api_key is not None:
            bot_event_record(
                organization_id=organization_id,
                bot=bot,
                kind=kind,
                message=f"{message} (API key {self.access.api_key.prefix})",
                data=self.access.audit_data(),
                source=self.access.source,
            )


class RowListMixin:
    """Lists read the serializer's columns as plain rows (`.values()`): a page of a large table
    costs no model instances and no unused columns (an order's raw exchange answer)."""

    def base_queryset(self) -> models.QuerySet:
        if self.action == "list":
            rows = self.get_serializer_class().row_template()
            if rows is not None:
                return rows
        return super().base_queryset()

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


# -- bots ---------------------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="List bots"),
    retrieve=extend_schema(summary="A bot"),
    create=extend_schema(summary="Create a bot (trader role; admin for live mode)"),
    update=extend_schema(summary="Edit a stopped bot"),
    partial_update=extend_schema(summary="Edit a stopped bot"),
)
class BotViewSet(
    RowListMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ScopedViewSet,
):
    model = Bot
    serializer_class = s.BotSerializer

    def base_queryset(self) -> models.QuerySet:
        if self.action == "list":
            return super().base_queryset()  # plain rows (RowListMixin)
        if self.action in ("retrieve", "metrics"):
            # Reads need neither the account row (its id is on the bot) nor the strategy's memory.
            return Bot.objects.defer("state")
        return Bot.objects.select_related("exchange_account")

    def _require_key(self, *, organization_id: int, mode: str, action_name: str) -> None:
        self.access.require_key(organization=organization_id, role=Role.TRADER, action=action_name)
        if mode == BotMode.LIVE:
            self.access.require_key(organization=organization_id, role=Role.ADMIN, action=f"{action_name} in live mode")

    def perform_create(self, serializer: s.BotSerializer) -> None:
        data = serializer.validated_data
        self._require_key(
            organization_id=data["exchange_account"].organization_id,
            mode=data.get("mode", BotMode.PAPER),
            action_name="Creating a bot",
        )
        serializer.instance = bot_create(
            data=data, user=self.access.user, source=self.access.source, audit_data=self.access.audit_data()
        )

    def perform_update(self, serializer: s.BotSerializer) -> None:
        data, current = serializer.validated_data, serializer.instance
        mode = data.get("mode", current.mode)
        self._require_key(
            organization_id=current.organization_id,
            mode=BotMode.LIVE if BotMode.LIVE in (mode, current.mode) else mode,
            action_name="Editing a bot",
        )
        serializer.instance = bot_update(
            bot=current,
            data=data,
            user=self.access.user,
            source=self.access.source,
            audit_data=self.access.audit_data(),
        )

    @extend_schema(request=None, responses=s.BotMetricsSerializer, summary="The bot's PnL, orders, fills and volume")
    @action(detail=True, methods=["get"])
    def metrics(self, request: Request, pk: str | None = None) -> Response:
        return Response(s.BotMetricsSerializer(bot_metrics(bot=self.get_object())).data)

    def _lifecycle(self, bot: Bot, *, live_action: str) -> None:
        self.access.require(organization=bot.organization_id, role=Role.TRADER, action=live_action)
        if bot.mode == BotMode.LIVE:
            self.access.require(organization=bot.organization_id, role=Role.ADMIN, action=f"{live_action} (live)")

    @extend_schema(request=None, responses=s.BotSerializer, summary="Start the bot (trader role)")
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        bot = self.get_object()
        self._lifecycle(bot, live_action="Starting a bot")
        bot = bot_start(bot=bot, user=self.access.service_user, source=self.access.source)
        self.audit(organization_id=bot.organization_id, bot=bot, kind="api.bot_start", message="Start requested")
        return Response(s.BotSerializer(bot, context=self.get_serializer_context()).data)

    @extend_schema(request=s.BotStopSerializer, responses=s.BotSerializer, summary="Stop the bot (trader role)")
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        return self._stopping(bot_stop, live_action="Stopping a bot", kind="api.bot_stop", message="Stop requested")

    @extend_schema(request=s.BotStopSerializer, responses=s.BotSerializer, summary="Restart the bot (trader role)")
    @action(detail=True, methods=["post"])
    def restart(self, request: Request, pk: str | None = None) -> Response:
        return self._stopping(
            bot_restart, live_action="Restarting a bot", kind="api.bot_restart", message="Restart requested"
        )

    def _stopping(self, service, *, live_action: str, kind: str, message: str) -> Response:
        """Stop and restart: the body says whether open orders are canceled; role, service, audit."""
        bot = self.get_object()
        body = s.BotStopSerializer(data=self.request.data)
        body.is_valid(raise_exception=True)
        self._lifecycle(bot, live_action=live_action)
        bot = service(
            bot=bot,
            user=self.access.service_user,
            source=self.access.source,
            cancel_orders=body.validated_data["cancel_orders"],
        )
        self.audit(organization_id=bot.organization_id, bot=bot, kind=kind, message=message)
        return Response(s.BotSerializer(bot, context=self.get_serializer_context()).data)


BOT_PK = OpenApiParameter("bot_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="The bot's id.")


class BotChildViewSet(RowListMixin, mixins.ListModelMixin, ScopedViewSet):
    """Rows of one bot, at bots/{bot_pk}/<children>/; the bot must be visible to the caller."""

    def get_bot(self) -> Bot:
        bots = self.access.scope(Bot.objects.select_related("exchange_account"))
        return get_object_or_404(bots, pk=self.kwargs["bot_pk"])

    def get_queryset(self) -> models.QuerySet:
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return queryset
        return queryset.filter(bot=self.get_bot())


@extend_schema_view(
    list=extend_schema(summary="The bot's orders", parameters=[BOT_PK]),
    create=extend_schema(
        summary="Place a manual order on the bot's account (trader role; the bot's risk limits apply)",
        parameters=[BOT_PK],
        request=s.ManualOrderSerializer,
        responses={201: s.OrderSerializer},
    ),
)
class BotOrderViewSet(mixins.CreateModelMixin, BotChildViewSet):
    model = Order
    serializer_class = s.OrderSerializer

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return s.ManualOrderSerializer if self.action == "create" else s.OrderSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        bot = self.get_bot()
        body = s.ManualOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        self.access.require(organization=bot.organization_id, role=Role.TRADER, action="Placing an order")
        order = manual_order_place(
            bot=bot, user=self.access.service_user, source=self.access.source, **body.validated_data
        )
        self.audit(organization_id=bot.organization_id, bot=bot, kind="api.order_manual", message="Manual order")
        return Response(s.OrderSerializer(order).data, status=status.HTTP_201_CREATED)


@extend_schema_view(list=extend_schema(summary="The bot's fills", parameters=[BOT_PK]))
class BotFillViewSet(BotChildViewSet):
    model = Fill
    serializer_class = s.FillSerializer


@extend_schema_view(list=extend_schema(summary="The bot's positions", parameters=[BOT_PK]))
class BotPositionViewSet(BotChildViewSet):
    model = Position
    serializer_class = s.PositionSerializer


@extend_schema_view(
    list=extend_schema(summary="The bot's perpetual funding payments (received > 0, paid < 0)", parameters=[BOT_PK])
)
class BotFundingViewSet(BotChildViewSet):
    model = FundingPayment
    serializer_class = s.FundingPaymentSerializer


@extend_schema_view(list=extend_schema(summary="The bot's event log", parameters=[BOT_PK]))
class BotEventViewSet(BotChildViewSet):
    model = BotEvent
    serializer_class = s.BotEventSerializer


# -- orders and fills ---------------------------------------------------------------------------------
class OrderViewSet(RowListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    model = Order
    serializer_class = s.OrderSerializer
    filter_backends = [QueryFilterBackend]
    filterset_class = OrderFilter


class FillViewSet(RowListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    model = Fill
    serializer_class = s.FillSerializer
    filter_backends = [QueryFilterBackend]
    filterset_class = FillFilter


# -- strategies ---------------------------------------------------------------------------------------
class StrategyViewSet(viewsets.ViewSet):
    """The strategy registry (the same for every organization)."""

    permission_classes = [IsMemberOrApiKey]
    schema = ApiAutoSchema()
    lookup_field = "key"
    serializer_class = s.StrategySerializer

    @staticmethod
    def _describe(spec) -> dict:
        return {
            "key": spec.key,
            "label": spec.label,
            "summary": spec.summary,
            "timeframe": spec.timeframe,
            "warmup_default": spec.warmup_bars(spec.defaults()),
            "needs_second_account": spec.needs_second_account,
            "params_schema": spec.json_schema(),
        }

    @extend_schema(responses=s.StrategySerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response([self._describe(spec) for spec in all_specs()])

    @extend_schema(
        responses=s.StrategySerializer,
        parameters=[OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH)],
    )
    def retrieve(self, request: Request, key: str | None = None) -> Response:
        for spec in all_specs():
            if spec.key == key:
                return Response(self._describe(spec))
        raise NotFound("Not found.")


# -- exchange accounts --------------------------------------------------------------------------------
@extend_schema_view(
    create=extend_schema(summary="Add an exchange account (admin role); credentials are write-only"),
    update=extend_schema(summary="Edit an account (admin role); omitted or empty credentials are kept"),
    partial_update=extend_schema(summary="Edit an account (admin role); omitted or empty credentials are kept"),
)
class ExchangeAccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ScopedViewSet,
):
    model = ExchangeAccount
    serializer_class = s.ExchangeAccountSerializer

    def perform_create(self, serializer: s.ExchangeAccountSerializer) -> None:
        data = dict(serializer.validated_data)
        organization = self.access.organization_for_write(data.pop("organization", None))
        self.access.require_key(organization=organization, role=Role.ADMIN, action="Adding an exchange account")
        serializer.instance = exchange_account_create(
            organization=organization,
            data=data,
            user=self.access.user,
            source=self.access.source,
            audit_data=self.access.audit_data(),
        )

    def perform_update(self, serializer: s.ExchangeAccountSerializer) -> None:
        data = dict(serializer.validated_data)
        current = serializer.instance
        requested = data.pop("organization", None)
        if requested is not None and requested.pk != current.organization_id:
            raise ApplicationError("An account cannot move to another organization.", field="organization")
        self.access.require_key(
            organization=current.organization_id, role=Role.ADMIN, action="Editing an exchange account"
        )
        serializer.instance = exchange_account_update(
            account=current,
            data=data,
            user=self.access.user,
            source=self.access.source,
            audit_data=self.access.audit_data(),
        )

    @extend_schema(
        request=None,
        responses=s.ExchangeAccountSerializer,
        summary="Check the credentials against the exchange by reading the balance (admin role)",
        description="The outcome is in `status` (`active` with `last_verified_at`, or `error`) and `status_reason`.",
    )
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        account = self.get_object()
        self.access.require_key(
            organization=account.organization_id, role=Role.ADMIN, action="Verifying an exchange account"
        )
        account = exchange_account_verify(
            account=account, user=self.access.user, source=self.access.source, audit_data=self.access.audit_data()
        )
        return Response(s.ExchangeAccountSerializer(account, context=self.get_serializer_context()).data)


# -- risk -------------------------------------------------------------------------------------------------
class RiskLimitsViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    model = RiskLimits
    serializer_class = s.RiskLimitsSerializer

    def _organization(self, data: dict, current: RiskLimits | None) -> Organization | int:
        owners = {row.organization_id for row in (data.get("bot"), data.get("exchange_account")) if row is not None}
        requested = data.pop("organization", None)
        if current is not None:
            organization: Organization | int = current.organization_id
            owners.add(requested.pk if requested is not None else current.organization_id)
        elif requested is not None:
            organization = requested
            owners.add(requested.pk)
        elif owners:
            organization = next(iter(owners))
        else:
            organization = self.access.organization_for_write(None)
            owners.add(organization.pk)
        if len(owners) > 1 or getattr(organization, "pk", organization) not in owners:
            raise ApplicationError(
                "The bot, account and organization must be the same organization's.", field="organization"
            )
        return organization

    def perform_create(self, serializer: s.RiskLimitsSerializer) -> None:
        data = dict(serializer.validated_data)
        organization = self._organization(data, None)
        self.access.require(organization=organization, role=Role.ADMIN, action="Editing risk limits")
        limits = RiskLimits(organization_id=getattr(organization, "pk", organization), **data)
        with transaction.atomic():
            _full_clean(limits)
            limits.save()
            self._record(limits, "created")
        serializer.instance = limits

    def perform_update(self, serializer: s.RiskLimitsSerializer) -> None:
        data = dict(serializer.validated_data)
        limits = serializer.instance
        self._organization(data, limits)
        self.access.require(organization=limits.organization_id, role=Role.ADMIN, action="Editing risk limits")
        for name, value in data.items():
            setattr(limits, name, value)
        with transaction.atomic():
            _full_clean(limits)
            limits.save()
            self._record(limits, "updated")

    def perform_destroy(self, instance: RiskLimits) -> None:
        self.access.require(organization=instance.organization_id, role=Role.ADMIN, action="Removing risk limits")
        with transaction.atomic():
            self._record(instance, "removed")
            instance.delete()

    def _record(self, limits: RiskLimits, verb: str) -> None:
        bot_event_record(
            organization_id=limits.organization_id,
            kind=f"risk.limits_{verb}",
            message=f"{limits.scope_label} {verb}.",
            level=EventLevel.WARNING,
            data=self.access.audit_data(),
            actor=self.access.user,
            source=self.access.source,
        )


ORGANIZATION_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Organization id.")


class KillSwitchViewSet(viewsets.ViewSet):
    """The organization's kill switch; the platform-wide one is operated by staff in admin only."""

    permission_classes = [IsMemberOrApiKey]
    schema = ApiAutoSchema()
    serializer_class = s.KillSwitchSerializer

    def _organization(self, pk: str | None) -> Organization:
        return get_object_or_404(Access.of(self.request).organizations(), pk=pk)

    @staticmethod
    def _state(organizations: list[Organization]) -> list[dict]:
        ids = [o.pk for o in organizations]
        switches = {
            k.organization_id: k
            for k in KillSwitch.objects.filter(Q(organization_id__in=ids) | Q(organization__isnull=True))
        }
        glob = switches.get(None)
        states = []
        for organization in organizations:
            own = switches.get(organization.pk)
            states.append(
                {
                    "pk": organization.pk,
                    "engaged": bool(own and own.engaged),
                    "reason": own.reason if own else "",
                    "changed_at": own.changed_at if own else None,
                    "global_engaged": bool(glob and glob.engaged),
                    "action": own.action if own else "cancel",
                }
            )
        return states

    @extend_schema(responses=s.KillSwitchSerializer(many=True), summary="The switch of each of your organizations")
    def list(self, request: Request) -> Response:
        organizations = list(Access.of(request).organizations().order_by("pk"))
        return Response(s.KillSwitchSerializer(self._state(organizations), many=True).data)

    @extend_schema(responses=s.KillSwitchSerializer, parameters=[ORGANIZATION_ID])
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(s.KillSwitchSerializer(self._state([self._organization(pk)])[0]).data)

    @extend_schema(
        request=s.KillSwitchEngageSerializer,
        responses=s.KillSwitchSerializer,
        parameters=[ORGANIZATION_ID],
        summary="Engage: stops every bot of the organization (admin role)",
    )
    @action(detail=True, methods=["post"])
    def engage(self, request: Request, pk: str | None = None) -> Response:
        organization = self._organization(pk)
        body = s.KillSwitchEngageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        access = Access.of(request)
        access.require(organization=organization, role=Role.ADMIN, action="Operating the kill switch")
        reason = body.validated_data["reason"]
        if access.api_key is not None:
            # The key is named in the stored reason, which must still fit its column.
            suffix = f" (API key {access.api_key.prefix})"
            reason = reason[: KillSwitch._meta.get_field("reason").max_length - len(suffix)] + suffix
        kill_switch_engage(organization=organization, user=access.service_user, reason=reason, source=access.source)
        return Response(s.KillSwitchSerializer(self._state([organization])[0]).data)

    @extend_schema(
        request=s.KillSwitchActionSerializer,
        responses=s.KillSwitchSerializer,
        parameters=[ORGANIZATION_ID],
        summary="Choose what engaging does: cancel, or cancel and flatten every position (admin role)",
    )
    @action(detail=True, methods=["post"], url_path="action")
    def choose_action(self, request: Request, pk: str | None = None) -> Response:
        organization = self._organization(pk)
        body = s.KillSwitchActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        access = Access.of(request)
        access.require(organization=organization, role=Role.ADMIN, action="Choosing the kill switch action")
        kill_switch_action_set(
            organization=organization, action=body.validated_data["action"], user=access.service_user
        )
        return Response(s.KillSwitchSerializer(self._state([organization])[0]).data)

    @extend_schema(
        request=None,
        responses=s.KillSwitchSerializer,
        parameters=[ORGANIZATION_ID],
        summary="Release: bots stay stopped (admin role)",
    )
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str | None = None) -> Response:
        organization = self._organization(pk)
        access = Access.of(request)
        access.require(organization=organization, role=Role.ADMIN, action="Operating the kill switch")
        kill_switch_release(organization=organization, user=access.service_user, source=access.source)
        if access.api_key is not None:
            bot_event_record(
                organization_id=organization.pk,
                kind="api.kill_switch_release",
                message=f"Kill switch released with API key {access.api_key.prefix}.",
                data=access.audit_data(),
                source=access.source,
            )
        return Response(s.KillSwitchSerializer(self._state([organization])[0]).data)


# -- hummingbot ---------------------------------------------------------------------------------------
class HummingbotInstanceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    model = HummingbotInstance
    serializer_class = s.HummingbotInstanceSerializer

    @extend_schema(
        request=None,
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The conf folder")},
        summary="Download the instance's conf folder as a zip (admin role: it holds the broker login)",
    )
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str | None = None) -> HttpResponse:
        instance = self.get_object()
        self.access.require(
            organization=instance.organization_id, role=Role.ADMIN, action="Exporting a Hummingbot instance"
        )
        response = HttpResponse(instance_export(instance=instance), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="hummingbot-{instance.pk}-conf.zip"'
        return response


class HummingbotDeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    model = HummingbotDeployment
    serializer_class = s.HummingbotDeploymentSerializer


# -- members ------------------------------------------------------------------------------------------
class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    model = Membership
    serializer_class = s.MembershipSerializer

    def base_queryset(self) -> models.QuerySet:
        return Membership.objects.select_related("user")
