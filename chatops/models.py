"""Members controlling their bots from Telegram.

A `TelegramLink` ties one member (a user) to one Telegram private chat; the chat then acts with
that user's roles in each of their organizations, one at a time (`organization`, switched with
/org). A link is made by a one-time code: the member asks the dashboard for one
(`TelegramLinkCode`, stored as its SHA-256, expiring, single use) and sends `/start <code>` to
the platform bot, usually through the deep link `https://t.me/<bot>?start=<code>`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TelegramLink(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_link")
    chat_id = models.BigIntegerField(unique=True, help_text="Telegram's id of the private chat.")
    username = models.CharField(max_length=64, blank=True, help_text="The Telegram @username when linked, if any.")
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The organization commands act on (/org); one of the user's.",
    )
    linked_at = models.DateTimeField(auto_now_add=True)
    last_command_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-linked_at"]

    def __str__(self) -> str:
        return f"{self.user} ↔ Telegram chat {self.chat_id}"


class TelegramLinkCode(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_link_codes")
    code_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the code; the code is shown once.")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Telegram link code of {self.user} (until {self.expires_at:%Y-%m-%d %H:%M})"
