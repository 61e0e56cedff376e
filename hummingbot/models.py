"""Hummingbot instances we can deploy to, and the deployments of bots onto them."""

from __future__ import annotations

from django.db import models

from organizations.tenancy import OrganizationOwned


class InstanceStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


class HummingbotInstance(OrganizationOwned):
    """A Hummingbot client reachable over MQTT as `<namespace>/<instance_id>`; its status comes from
    heartbeats (offline after three missed ones)."""

    name = models.CharField(max_length=120)
    instance_id = models.CharField(max_length=120, help_text="The instance's MQTT id (client id hbot.<id>).")
    namespace = models.CharField(max_length=64, default="hbot")
    status = models.CharField(max_length=16, choices=InstanceStatus.choices, default=InstanceStatus.UNKNOWN)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    capacity = models.PositiveIntegerField(default=1, help_text="How many strategies it may run at once.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "instance_id"], name="hbinstance_unique_topic"),
            models.UniqueConstraint(fields=["organization", "name"], name="hbinstance_unique_name"),
            models.CheckConstraint(condition=models.Q(capacity__gte=1), name="hbinstance_capacity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.namespace}/{self.instance_id})"

    @property
    def topic_prefix(self) -> str:
        return f"{self.namespace}/{self.instance_id}"


class DeploymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DEPLOYING = "deploying", "Deploying"
    RUNNING = "running", "Running"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown (no answer)"


class HummingbotDeployment(OrganizationOwned):
    """One bot (or a signal, run by a bot) rendered to a Hummingbot strategy config and placed on an
    instance."""

    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="deployments")
    instance = models.ForeignKey(HummingbotInstance, on_delete=models.PROTECT, related_name="deployments")
    signal = models.ForeignKey(
        "signals.Signal",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deployments",
        help_text="The signal this config was converted from (hummingbot.signal_deploy), if any.",
    )
    strategy_name = models.CharField(max_length=64, help_text="Hummingbot strategy or V2 script.")
    config_file = models.CharField(max_length=200, help_text="File name in the instance's conf folder.")
    rendered_config = models.TextField(help_text="The YAML sent to the instance.")
    files = models.JSONField(
        default=list, blank=True, help_text="Every file of the config as [folder under conf/, name, text]."
    )
    commands = models.JSONField(
        default=dict, blank=True, help_text="What deploying sends: /import name, /config params, /start fields."
    )
    config_version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.PENDING)
    last_status_payload = models.JSONField(default=dict, blank=True)
    last_command = models.CharField(max_length=32, blank=True)
    last_command_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot"],
                condition=~models.Q(status__in=["stopped", "failed"]),
                name="hbdeployment_one_active_per_bot",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bot} on {self.instance} (v{self.config_version}, {self.status})"
