"""Alerts: where an organization wants to hear about trouble (channels), what it wants to hear
about (rules), what was raised (alerts, with repeats folded in) and each attempt to tell it
(deliveries)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from alerts.levels import AlertLevel
from exchanges.fields import SecretField
from exchanges.secrets import mask
from organizations.tenancy import OrganizationOwned


class ChannelKind(models.TextChoices):
    EMAIL = "email", "Email"
    TELEGRAM = "telegram", "Telegram"
    WEBHOOK = "webhook", "Webhook (signed JSON)"
    SLACK = "slack", "Slack"
    DISCORD = "discord", "Discord"
    MEMBERS = "members", "Telegram: each linked member"


class AlertChannel(OrganizationOwned):
    """One place to send alerts to.

    `config` holds what is not secret: `{"emails": [...]}` for email, `{"chat_id": ...}` (and
    optionally `api_url`, a self-hosted Bot API server) for Telegram, and for `members` (the
    platform's Telegram bot, to every member who linked a chat) optionally `{"min_role": ...}`,
    the lowest role told, with action buttons each member's role allows. The secrets (the Telegram
    bot token, the webhook URL, which for Slack and Discord embeds a token, and the HMAC key of a
    generic webhook) are encrypted and write-only: shown masked, never logged or returned.
    """

    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict, blank=True, help_text="Targets: emails, chat_id. No secrets here.")
    bot_token = SecretField(blank=True, default="", help_text="Telegram bot token (encrypted).")
    webhook_url = SecretField(blank=True, default="", help_text="Webhook URL (encrypted: it may carry a token).")
    signing_secret = SecretField(blank=True, default="", help_text="HMAC key of a generic webhook (encrypted).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="alert_channel_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def masked_bot_token(self) -> str:
        return mask(self.bot_token)

    @property
    def masked_webhook_url(self) -> str:
        return mask(self.webhook_url)

    @property
    def masked_signing_secret(self) -> str:
        return mask(self.signing_secret)

    def clean(self) -> None:
        from alerts.services import channel_validate

        channel_validate(channel=self)


class AlertRule(OrganizationOwned):
    """Which events become alerts and where they go.

    `event_kinds` is a list of patterns: an exact kind (`hummingbot.instance_offline`), a prefix
    ending in a dot (`bot.`, `risk.`) or in `*` (`bot.watchdog*`), or `*` for every kind. The daily
    summary is the kind `summary.daily`. Occurrences with the same fingerprint (rule, kind, bot)
    within `dedupe_seconds` of the alert's first occurrence fold into it and send nothing new.
    """

    name = models.CharField(max_length=120)
    event_kinds = models.JSONField(default=list, help_text='Patterns, e.g. ["bot.error", "risk.", "hummingbot."].')
    min_level = models.CharField(max_length=10, choices=AlertLevel.choices, default=AlertLevel.WARNING)
    channels = models.ManyToManyField(AlertChannel, related_name="rules", blank=True)
    enabled = models.BooleanField(default=True)
    dedupe_seconds = models.PositiveIntegerField(
        default=300, help_text="Repeats within this many seconds of the first fold into one alert."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="alert_rule_unique_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from alerts.matching import pattern_error

        if not isinstance(self.event_kinds, list) or not self.event_kinds:
            raise ValidationError({"event_kinds": "List at least one event kind or pattern."})
        for pattern in self.event_kinds:
            if problem := pattern_error(pattern):
                raise ValidationError({"event_kinds": problem})


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open (repeats fold in)"
    CLOSED = "closed", "Closed (window over)"


class Alert(OrganizationOwned):
    """Something a rule caught. Repeats within the rule's window raise `count` and `last_at`
    instead of making a new alert; at most one open alert exists per rule and fingerprint."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    bot = models.ForeignKey("bots.Bot", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    level = models.CharField(max_length=10, choices=AlertLevel.choices)
    title = models.CharField(max_length=200)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=1, help_text="Occurrences folded into this alert.")
    status = models.CharField(max_length=8, choices=AlertStatus.choices, default=AlertStatus.OPEN)

    class Meta:
        ordering = ["-first_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "fingerprint"], condition=Q(status="open"), name="alert_one_open_per_fingerprint"
            )
        ]
        indexes = [models.Index(fields=["organization", "-first_at"], name="alert_org_first_idx")]

    def __str__(self) -> str:
        return f"[{self.level}] {self.title}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class AlertDelivery(OrganizationOwned):
    """One alert to one channel: sent by a Celery task, retried with backoff, its outcome kept.
    `last_error` never contains a secret."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "alert deliveries"
        constraints = [models.UniqueConstraint(fields=["alert", "channel"], name="alert_delivery_once_per_channel")]

    def __str__(self) -> str:
        return f"{self.alert_id} → {self.channel_id}: {self.status}"
