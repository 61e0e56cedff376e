"""API representations. Secrets are write-only: exchange credentials are never serialized back."""

from __future__ import annotations

from rest_framework import serializers

from bots.hummingbot.models import HummingbotDeployment, HummingbotInstance
from bots.models import Bot, BotEvent, Fill, Order, OrderSide, OrderType, Position
from exchanges.models import ExchangeAccount
from organizations.models import Membership, Organization
from risk.models import RiskLimits


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


class BotSerializer(serializers.ModelSerializer):
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


class ManualOrderSerializer(serializers.Serializer):
    side = serializers.ChoiceField(choices=OrderSide.choices)
    type = serializers.ChoiceField(choices=OrderType.choices)
    amount = serializers.DecimalField(max_digits=38, decimal_places=18, min_value=0)
    price = serializers.DecimalField(max_digits=38, decimal_places=18, min_value=0, required=False, allow_null=True)


class OrderSerializer(serializers.ModelSerializer):
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
            "reason",
            "created_at",
            "updated_at",
            "submitted_at",
            "closed_at",
        ]
        read_only_fields = fields


class FillSerializer(serializers.ModelSerializer):
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
            "ts",
            "created_at",
        ]
        read_only_fields = fields


class PositionSerializer(serializers.ModelSerializer):
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
            "opened_at",
            "closed_at",
            "exit_reason",
            "last_fill_at",
            "updated_at",
        ]
        read_only_fields = fields


class BotEventSerializer(serializers.ModelSerializer):
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
    masked_api_key = serializers.CharField(read_only=True)

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

    class Meta:
        model = RiskLimits
        fields = [
            "id",
            "organization",
            "scope",
            "exchange_account",
            "bot",
            "max_order_notional",
            "max_position_notional",
            "max_open_orders",
            "max_daily_loss",
            "max_daily_trades",
            "max_drawdown_pct",
            "default_stop_loss_pct",
            "default_take_profit_pct",
            "price_band_pct",
            "allowed_symbols",
            "loss_cooldown_count",
            "loss_cooldown_minutes",
            "updated_at",
        ]
        validators: list = []


class KillSwitchSerializer(serializers.Serializer):
    organization = serializers.IntegerField(source="pk")
    engaged = serializers.BooleanField()
    reason = serializers.CharField()
    changed_at = serializers.DateTimeField(allow_null=True)
    global_engaged = serializers.BooleanField(help_text="The platform-wide switch, operated by staff only.")


class KillSwitchEngageSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


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
