"""API representations. Secrets are write-only: exchange credentials are never serialized back."""

from __future__ import annotations

import datetime as dt
import decimal
import operator
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models
from django.db.models import F, Func, QuerySet, TextField
from django.db.models.functions import Cast
from rest_framework import serializers
from rest_framework.fields import ISO_8601, SkipField, _UnvalidatedField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

from api.rows import PageRowsIterable
from bots.models import Bot, BotEvent, Fill, FundingPayment, Order, OrderSide, OrderType, Position
from exchanges.models import ExchangeAccount
from hummingbot.models import HummingbotDeployment, HummingbotInstance
from organizations.models import Membership, Organization
from risk.engine import LIMIT_FIELDS
from risk.models import RiskLimits


def _decimal_to_string(field: serializers.DecimalField) -> Callable[[Any], str] | None:
    """DRF's DecimalField output (quantized to the field's places, as a plain string), with the
    quantizing context built once instead of per value."""
    if not getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING):
        return None
    if field.localize or field.normalize_output or field.decimal_places is None:
        return None
    context = decimal.getcontext().copy()
    if field.max_digits is not None:
        context.prec = field.max_digits
    exponent = decimal.Decimal(".1") ** field.decimal_places
    rounding = field.rounding

    def convert(value: Any) -> str:
        if not isinstance(value, decimal.Decimal):
            return field.to_representation(value)
        return f"{value.quantize(exponent, rounding=rounding, context=context):f}"

    return convert


ZERO_OFFSET = dt.timedelta(0)


def _datetime_to_string(field: serializers.DateTimeField) -> Callable[[Any], str] | None:
    """DRF's ISO 8601 output for aware UTC datetimes (the API's only time zone), done directly."""
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output_format is None or output_format.lower() != ISO_8601:
        return None
    if not settings.USE_TZ or settings.TIME_ZONE != "UTC" or getattr(field, "timezone", None) is not None:
        return None

    def convert(value: Any) -> Any:
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            return field.to_representation(value)
        if value.utcoffset() != ZERO_OFFSET:
            value = value.astimezone(dt.UTC)
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return convert


def _bigint_as_string(field: serializers.BigIntegerField) -> bool:
    return getattr(field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING)


def _same(value: Any) -> Any:
    return value


def _string_keys(value: Any) -> Any:
    """DictField's output for a child that passes values through: the keys as strings."""
    return {str(key): item for key, item in value.items()}


def _passthrough(field: serializers.Field, kind: type) -> Callable[[Any], Any]:
    """A value already of the output type is returned as it is, which is what the field would do."""

    def convert(value: Any) -> Any:
        return value if type(value) is kind else field.to_representation(value)

    convert.kind = kind  # type: ignore[attr-defined]
    return convert


# Columns whose values the database driver gives as exactly this type (or None). Exact classes: a
# subclass may convert its values into something else (an encrypted field, an enum...).
COLUMN_TYPES: dict[type[models.Field], type] = {
    models.CharField: str,
    models.TextField: str,
    models.SlugField: str,
    models.AutoField: int,
    models.BigAutoField: int,
    models.SmallAutoField: int,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.SmallIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.BooleanField: bool,
}


def _column_gives_output(model, field: serializers.Field, convert: Callable[[Any], Any]) -> bool:
    """Whether a passthrough converter has nothing to do on this column's values: the column
    always holds the type the converter passes through."""
    kind = getattr(convert, "kind", None)
    if kind is None or "." in field.source or field.source == "*":
        return False
    try:
        column = model._meta.get_field(field.source)
    except FieldDoesNotExist:
        return False
    return COLUMN_TYPES.get(type(column)) is kind


# (output name, attribute getter, converter, DRF field, row key) of one field of a serializer.
PlanEntry = tuple[str, Callable[[Any], Any], Callable[[Any], Any] | None, Any, str]


class IsoUtcText(Func):
    """A timestamptz as DRF writes it: `2024-01-02T03:04:05.678901Z`, or without the fraction when
    it is zero (as `datetime.isoformat` does)."""

    template = (
        "CASE WHEN MOD(EXTRACT(MICROSECONDS FROM %(expressions)s)::bigint, 1000000) = 0"
        " THEN to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " ELSE to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END"
    )
    output_field = TextField()


def _row_text(model, field: serializers.Field, key: str) -> Func | Cast | None:
    """The SQL that renders a plain column exactly as the field's fast converter would, or None."""
    if "." in field.source or field.source == "*":
        return None
    try:
        column = model._meta.get_field(field.source)
    except FieldDoesNotExist:
        return None
    if isinstance(field, serializers.DateTimeField) and isinstance(column, models.DateTimeField):
        return IsoUtcText(F(key)) if _datetime_to_string(field) is not None else None
    if isinstance(field, serializers.DecimalField) and isinstance(column, models.DecimalField):
        same_scale = field.decimal_places == column.decimal_places and field.max_digits == column.max_digits
        if same_scale and _decimal_to_string(field) is not None:
            return Cast(F(key), TextField())
    return None


class FastRepresentationMixin:
    """The same output as ModelSerializer.to_representation, several times faster on list pages.

    A plan is built once per serializer class: for each plain field, a direct attribute read and a
    converter equivalent to the DRF field's own; any other field goes through DRF as usual. Only
    for serializers whose output fields need no request context (no hyperlinks, no nested
    serializers). tests/api/test_serializers.py holds the two outputs equal."""

    def _per_class(self, attribute: str, build: Callable[[], Any]) -> Any:
        """`build()`, once per serializer class and settings, kept in the class's own `attribute`
        (a subclass has other fields, so it does not inherit its parent's)."""
        key = (connection.vendor, settings.USE_TZ, settings.TIME_ZONE, api_settings.COERCE_DECIMAL_TO_STRING)
        cache = type(self).__dict__.get(attribute)
        if cache is None:
            cache = {}
            setattr(type(self), attribute, cache)
        if key not in cache:
            cache[key] = build()
        return cache[key]

    def _representation_plan(self) -> list[PlanEntry]:
        # Built once per class and settings: building a ModelSerializer's fields costs more than
        # serializing a page, and the fields of these serializers depend on nothing per request.
        return self._per_class("_plans", self._build_representation_plan)

    def _build_representation_plan(self) -> list[PlanEntry]:
        plan = []
        model = self.Meta.model
        for field in self._readable_fields:
            source = field.source
            convert: Callable[[Any], Any] | None = None
            getter: Callable[[Any], Any] | None = None
            simple = "." not in source and source != "*"
            key = source
            if simple and isinstance(field, serializers.PrimaryKeyRelatedField) and field.use_pk_only_optimization():
                key = model._meta.get_field(source).attname
                getter, convert = operator.attrgetter(key), _same
            elif simple and isinstance(field, serializers.DecimalField):
                convert = _decimal_to_string(field)
            elif simple and isinstance(field, serializers.DateTimeField):
                convert = _datetime_to_string(field)
            elif simple and type(field) in (serializers.CharField, serializers.ChoiceField):
                convert = _passthrough(field, str)
            elif simple and type(field) is serializers.IntegerField:
                convert = _passthrough(field, int)
            elif simple and type(field) is serializers.BigIntegerField and not _bigint_as_string(field):
                convert = _passthrough(field, int)
            elif simple and type(field) is serializers.BooleanField:
                convert = _passthrough(field, bool)
            elif simple and type(field) is serializers.JSONField and not field.binary:
                convert = _same
            elif simple and type(field) is serializers.DictField and type(field.child) is _UnvalidatedField:
                convert = _string_keys
            if convert is not None and getter is None:
                getter = operator.attrgetter(source)
            plan.append((field.field_name, getter, convert, field, key))
        return plan

    def _row_plan(self) -> list[tuple[str, str, Callable[[Any], Any], Any]] | None:
        """For rows read with `row_values`: (output name, row key, converter, SQL expression or
        None). On PostgreSQL the database writes times and amounts in the output's own text form
        (ISO 8601 in UTC with `Z`, microseconds only when there are some; numerics at the column's
        scale, which is the field's), so a page costs no datetime or Decimal objects at all."""
        return self._per_class("_row_plans", self._build_row_plan) or None

    def _build_row_plan(self) -> list[tuple[str, str, Callable[[Any], Any], Any]]:
        plan = self._representation_plan()
        rows: list[tuple[str, str, Callable[[Any], Any], Any]] = []
        if all(convert is not None for _, _, convert, _, _ in plan):
            model = self.Meta.model
            for name, _, convert, field, key in plan:
                expression = _row_text(model, field, key) if connection.vendor == "postgresql" else None
                if expression is not None:
                    # Django hashes expressions by their constructor arguments (found through
                    # inspect, which is slow); the copies each request makes inherit this value.
                    _ = expression.identity
                    rows.append((name, f"text_{key}", _same, expression))
                elif _column_gives_output(model, field, convert):
                    rows.append((name, key, _same, None))
                else:
                    rows.append((name, key, convert, None))
        return rows

    def _row_writer(self) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, Callable[[Any], Any]], ...]]:
        """The row plan as (output name, row key) pairs and the (output name, converter) pairs
        of the values that need converting; built once per class, like the plan."""

        def build():
            plan = self._row_plan()
            return (
                tuple((name, key) for name, key, _, _ in plan),
                tuple((name, convert) for name, _, convert, _ in plan if convert is not _same),
            )

        return self._per_class("_row_writers", build)

    @classmethod
    def row_values(cls, queryset: QuerySet) -> QuerySet | None:
        """The queryset as `.values()` rows this serializer writes from the dict alone (every
        field plain), reading only its columns; None when a field needs the model instance."""
        plan = cls()._row_plan()
        if plan is None:
            return None
        plain = [key for _, key, _, expression in plan if expression is None]
        texts = {key: expression for _, key, _, expression in plan if expression is not None}
        return queryset.values(*plain, **texts)

    @classmethod
    def row_template(cls) -> QuerySet | None:
        """A fresh copy of `row_values` over every row of the model, built once per process:
        resolving the column list and its SQL expressions costs more than filtering a copy."""
        key = (connection.vendor, settings.USE_TZ, settings.TIME_ZONE, api_settings.COERCE_DECIMAL_TO_STRING)
        templates = cls.__dict__.get("_row_templates")
        if templates is None:
            templates = cls._row_templates = {}
        if key not in templates:
            template = cls.row_values(cls.Meta.model._default_manager.all())
            if template is not None:
                # Its pages compile only their WHERE clause (api/rows.py); clones keep the class.
                template._iterable_class = PageRowsIterable.for_template(template)
            templates[key] = template
        template = templates[key]
        return None if template is None else template.all()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        if isinstance(instance, dict):
            # A row from `row_values`: every value is copied under its output name, then the few
            # that need converting are converted in place (the key order stays the fields').
            # Kept on this serializer: a list page reuses one child serializer for all its rows.
            writer = self.__dict__.get("_row_writer")
            if writer is None:
                writer = self.__dict__["_row_writer"] = self._row_writer()
            keys, converts = writer
            result = {name: instance[key] for name, key in keys}
            for name, convert in converts:
                value = result[name]
                if value is not None:
                    result[name] = convert(value)
            return result
        result = {}
        for name, getter, convert, field, _ in self._representation_plan():
            if convert is not None:
                value = getter(instance)
                result[name] = None if value is None else convert(value)
                continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            result[name] = None if check is None else field.to_representation(attribute)
        return result


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine-readable reason, e.g. permission_denied.")
    message = serializers.CharField(help_text="Fit to show a person.")
    field = serializers.CharField(allow_null=True, help_text="The input at fault (dotted for nested), or null.")


class ErrorSerializer(serializers.Serializer):
    """Every error of the API."""

    error = ErrorDetailSerializer()


class PingSerializer(serializers.Serializer):
    ok = serializers.BooleanField()


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key the caller may only point at rows they can see (others read as 'does not exist')."""

    def get_queryset(self):
        access = self.context.get("access")
        queryset = super().get_queryset()
        return access.scope(queryset) if access is not None else queryset.none()


class OrganizationField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        access = self.context.get("access")
        return access.organizations() if access is not None else Organization.objects.none()


class BotSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    params = serializers.DictField(
        required=False, help_text="The strategy's parameters (its JSON Schema: /strategies/{key}/); defaults fill gaps."
    )
    exchange_account = ScopedPrimaryKeyRelatedField(queryset=ExchangeAccount.objects.all())
    secondary_exchange_account = ScopedPrimaryKeyRelatedField(
        queryset=ExchangeAccount.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Bot
        fields = [
            "id",
            "organization",
            "name",
            "strategy",
            "params",
            "exchange_account",
            "secondary_exchange_account",
            "symbol",
            "market_type",
            "leverage",
            "margin_mode",
            "mode",
            "execution",
            "failover_policy",
            "tick_interval",
            "capital",
            "status",
            "desired_status",
            "status_changed_at",
            "last_tick_at",
            "last_heartbeat_at",
            "last_error",
            "tick_count",
            "consecutive_errors",
            "restart_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["organization", "desired_status"]
        # Uniqueness and cross-field rules are checked by the model's full_clean on save.
        validators: list = []


class BotStopSerializer(serializers.Serializer):
    cancel_orders = serializers.BooleanField(default=True)


class BotMetricsSerializer(serializers.Serializer):
    bot = serializers.IntegerField()
    realized_pnl = serializers.DecimalField(max_digits=38, decimal_places=18, help_text="Closed and partial exits.")
    unrealized_pnl = serializers.DecimalField(
        max_digits=38, decimal_places=18, help_text="Open positions marked at the bot's last fill price."
    )
    total_pnl = serializers.DecimalField(
        max_digits=38, decimal_places=18, help_text="Realized + unrealized + perpetual funding."
    )
    funding = serializers.DecimalField(
        max_digits=38, decimal_places=18, help_text="Perpetual funding received (negative: paid)."
    )
    fees_paid = serializers.DecimalField(max_digits=38, decimal_places=18)
    open_positions = serializers.IntegerField()
    orders_count = serializers.IntegerField()
    open_orders = serializers.IntegerField()
    fills_count = serializers.IntegerField()
    volume_24h = serializers.DecimalField(
        max_digits=38, decimal_places=18, help_text="Quote value of the fills of the last 24 hours."
    )
    as_of = serializers.DateTimeField()


class ManualOrderSerializer(serializers.Serializer):
    side = serializers.ChoiceField(choices=OrderSide.choices)
    type = serializers.ChoiceField(choices=OrderType.choices)
    amount = serializers.DecimalField(max_digits=38, decimal_places=18, min_value=0)
    price = serializers.DecimalField(max_digits=38, decimal_places=18, min_value=0, required=False, allow_null=True)


class OrderSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    trigger_kind = serializers.CharField(
        read_only=True, help_text="A protective trigger order: `sl` (stop-loss) or `tp` (take-profit); else empty."
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "organization",
            "bot",
            "exchange_account",
            "client_order_id",
            "exchange_order_id",
            "tag",
            "symbol",
            "side",
            "type",
            "price",
            "amount",
            "filled",
            "average",
            "fee",
            "fee_currency",
            "status",
            "reduce_only",
            "trigger_price",
            "trigger_kind",
            "reason",
            "created_at",
            "updated_at",
            "submitted_at",
            "closed_at",
        ]
        read_only_fields = fields


class FillSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = Fill
        fields = [
            "id",
            "organization",
            "order",
            "bot",
            "exchange_account",
            "trade_id",
            "symbol",
            "side",
            "price",
            "amount",
            "fee",
            "fee_currency",
            "is_maker",
            "liquidation",
            "ts",
            "created_at",
        ]
        read_only_fields = fields


class PositionSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = Position
        fields = [
            "id",
            "bot",
            "symbol",
            "quantity",
            "average_entry_price",
            "realized_pnl",
            "fees_paid",
            "funding",
            "mark_price",
            "unrealized_pnl",
            "liquidation_price",
            "margin_used",
            "opened_at",
            "closed_at",
            "exit_reason",
            "last_fill_at",
            "updated_at",
        ]
        read_only_fields = fields


class FundingPaymentSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = FundingPayment
        fields = [
            "id",
            "bot",
            "exchange_account",
            "symbol",
            "payment_id",
            "amount",
            "rate",
            "position_quantity",
            "mark_price",
            "ts",
            "created_at",
        ]
        read_only_fields = fields


class BotEventSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = BotEvent
        fields = ["id", "bot", "level", "kind", "message", "data", "actor", "source", "created_at"]
        read_only_fields = fields


class StrategySerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    summary = serializers.CharField()
    timeframe = serializers.CharField()
    warmup_default = serializers.IntegerField(help_text="Candles of warm-up with the default parameters.")
    needs_second_account = serializers.BooleanField()
    params_schema = serializers.JSONField(help_text="JSON Schema of the strategy's parameters.")


class ExchangeAccountSerializer(serializers.ModelSerializer):
    organization = OrganizationField(required=False)
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=True)
    api_secret = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=True)
    passphrase = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=True)
    wallet_address = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=True, help_text="Hyperliquid."
    )
    private_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=True, help_text="Hyperliquid."
    )
    masked_api_key = serializers.CharField(read_only=True)
    credential_fields = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The credentials this exchange needs (ccxt's requiredCredentials); others are refused.",
    )
    masked_credentials = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        read_only=True,
        help_text="Each needed credential's last four characters; empty when not set.",
    )

    class Meta:
        model = ExchangeAccount
        fields = [
            "id",
            "organization",
            "exchange",
            "label",
            "api_key",
            "api_secret",
            "passphrase",
            "wallet_address",
            "private_key",
            "credential_fields",
            "masked_credentials",
            "masked_api_key",
            "is_testnet",
            "status",
            "status_reason",
            "last_verified_at",
            "circuit_state",
            "paper_taker_fee",
            "paper_maker_fee",
            "paper_slippage",
            "paper_participation",
            "paper_funding_rate",
            "paper_funding_interval_hours",
            "paper_max_leverage",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "status_reason", "last_verified_at", "circuit_state", "created_at", "updated_at"]
        validators: list = []


class RiskLimitsSerializer(serializers.ModelSerializer):
    organization = OrganizationField(required=False)
    exchange_account = ScopedPrimaryKeyRelatedField(
        queryset=ExchangeAccount.objects.all(), required=False, allow_null=True
    )
    bot = ScopedPrimaryKeyRelatedField(queryset=Bot.objects.all(), required=False, allow_null=True)
    scope = serializers.CharField(read_only=True)
    allowed_symbols = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, help_text="Empty: every symbol."
    )

    class Meta:
        model = RiskLimits
        fields = [
            "id",
            "organization",
            "scope",
            "exchange_account",
            "bot",
            *LIMIT_FIELDS,
            "updated_at",
        ]
        validators: list = []


class KillSwitchSerializer(serializers.Serializer):
    organization = serializers.IntegerField(source="pk")
    engaged = serializers.BooleanField()
    reason = serializers.CharField()
    changed_at = serializers.DateTimeField(allow_null=True)
    global_engaged = serializers.BooleanField(help_text="The platform-wide switch, operated by staff only.")
    action = serializers.ChoiceField(
        choices=["cancel", "flatten"],
        help_text="What engaging does: cancel orders and stop bots, or that and flatten every position.",
    )


class KillSwitchEngageSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class KillSwitchActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["cancel", "flatten"])


class HummingbotInstanceSerializer(serializers.ModelSerializer):
    class Meta:
        model = HummingbotInstance
        fields = [
            "id",
            "organization",
            "name",
            "instance_id",
            "namespace",
            "status",
            "last_heartbeat_at",
            "capacity",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class HummingbotDeploymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = HummingbotDeployment
        fields = [
            "id",
            "organization",
            "bot",
            "instance",
            "signal",
            "strategy_name",
            "config_file",
            "rendered_config",
            "config_version",
            "status",
            "last_status_payload",
            "last_command",
            "last_command_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "organization", "user", "username", "role", "created_at"]
        read_only_fields = fields
