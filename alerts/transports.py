"""One transport per channel kind, one error type for all of them.

A transport turns a `Notice` into one request to the outside world. It raises `TransportError`
with `permanent=True` when repeating cannot help (a 4xx other than 429: a bad chat id, a revoked
token, a deleted webhook) and with `retry_after` when the far side said how long to wait.
Error messages never contain the channel's secrets: `scrub` removes them before they leave.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import html
import json
import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
from django.conf import settings
from django.core.mail import send_mail

from alerts.models import AlertChannel, ChannelKind

logger = logging.getLogger(__name__)

# httpx logs every request URL at INFO and python-telegram-bot logs its API URL at DEBUG; both
# URLs carry a token (the bot token, a Slack or Discord webhook token), so they stay quiet.
for _name in ("httpx", "httpcore", "telegram"):
    logging.getLogger(_name).setLevel(logging.WARNING)

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
TELEGRAM_API_URL = "https://api.telegram.org"
USER_AGENT = "trading-backoffice-alerts/1"
MAX_TEXT = {"telegram": 4096, "discord": 2000, "slack": 3000}


class TransportError(Exception):
    """A send failed. `permanent` ones are not retried; `retry_after` is the far side's wish."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Notice:
    """What a channel is told about one alert (plain values, nothing secret)."""

    alert_id: int
    delivery_id: int
    organization_id: int
    organization: str
    kind: str
    level: str
    title: str
    message: str
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    bot_id: int | None = None
    bot: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        return f"[{self.level.upper()}] {self.title}"

    def details(self) -> str:
        """Everything below the headline: the message, the bot, where and when."""
        lines = [self.message]
        if self.bot:
            lines.append(f"Bot: {self.bot}")
        lines.append(f"Organization: {self.organization} · {self.first_at:%Y-%m-%d %H:%M:%S} UTC")
        return "\n".join(lines)

    def text(self) -> str:
        return f"{self.headline}\n{self.details()}"

    def as_json(self) -> dict[str, Any]:
        return {
            "alert": self.alert_id,
            "delivery": self.delivery_id,
            "organization": self.organization_id,
            "kind": self.kind,
            "level": self.level,
            "title": self.title,
            "message": self.message,
            "bot": {"id": self.bot_id, "name": self.bot} if self.bot_id else None,
            "count": self.count,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "data": self.data,
        }


def scrub(text: str, secrets: list[str]) -> str:
    """The text with every secret (and a webhook URL's path, which holds its token) blanked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
        if "://" in secret:
            url = httpx.URL(secret)
            if url.path not in ("", "/"):
                text = text.replace(url.path, "/***")
    return text[:1000]


class Transport:
    kind: ClassVar[str]

    def __init__(self, channel: AlertChannel) -> None:
        self.channel = channel

    @property
    def secrets(self) -> list[str]:
        return [self.channel.bot_token, self.channel.webhook_url, self.channel.signing_secret]

    def send(self, notice: Notice) -> None:
        raise NotImplementedError


class EmailTransport(Transport):
    """Django's mail backend (SMTP in production, locmem in tests)."""

    kind = ChannelKind.EMAIL

    def send(self, notice: Notice) -> None:
        recipients = list(self.channel.config.get("emails") or [])
        if not recipients:
            raise TransportError("The channel lists no email addresses.", permanent=True)
        try:
            send_mail(
                subject=notice.headline[:200],
                message=notice.text(),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=recipients,
            )
        except OSError as exc:  # smtplib's errors are OSErrors; a refused recipient is final
            from smtplib import SMTPRecipientsRefused, SMTPSenderRefused

            permanent = isinstance(exc, SMTPRecipientsRefused | SMTPSenderRefused)
            raise TransportError(f"Mail not sent: {exc}", permanent=permanent) from None


class TelegramTransport(Transport):
    """The Bot API's sendMessage through python-telegram-bot, as HTML."""

    kind = ChannelKind.TELEGRAM

    def send(self, notice: Notice) -> None:
        from telegram import Bot
        from telegram.constants import ParseMode
        from telegram.error import (
            BadRequest,
            ChatMigrated,
            Conflict,
            Forbidden,
            InvalidToken,
            NetworkError,
            RetryAfter,
            TelegramError,
        )
        from telegram.request import HTTPXRequest

        token = self.channel.bot_token
        chat_id = self.channel.config.get("chat_id")
        if not token or chat_id in (None, ""):
            raise TransportError("The channel needs a bot token and a chat_id.", permanent=True)
        base = (self.channel.config.get("api_url") or TELEGRAM_API_URL).rstrip("/")
        text = f"<b>{html.escape(notice.headline)}</b>\n{html.escape(notice.details())}"

        async def deliver() -> None:
            request = HTTPXRequest(connect_timeout=5.0, read_timeout=10.0, write_timeout=10.0)
            bot = Bot(token=token, base_url=f"{base}/bot", request=request)
            try:
                await bot.send_message(chat_id=chat_id, text=text[: MAX_TEXT["telegram"]], parse_mode=ParseMode.HTML)
            finally:
                await request.shutdown()

        try:
            asyncio.run(deliver())
        except RetryAfter as exc:
            raise TransportError(scrub(f"Telegram: {exc.message}", self.secrets), retry_after=_seconds(exc)) from None
        except (BadRequest, Forbidden, InvalidToken, ChatMigrated, Conflict) as exc:
            raise TransportError(scrub(f"Telegram refused: {exc.message}", self.secrets), permanent=True) from None
        except NetworkError as exc:  # timeouts, 5xx, connection errors
            raise TransportError(scrub(f"Telegram unreachable: {exc.message}", self.secrets)) from None
        except TelegramError as exc:
            raise TransportError(scrub(f"Telegram: {exc.message}", self.secrets)) from None


def _seconds(exc: Any) -> float:
    with warnings.catch_warnings():  # the int form of retry_after is deprecated in favour of timedelta
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class HttpTransport(Transport):
    """A JSON POST to the channel's webhook URL; the answer's status decides what happens next."""

    def body(self, notice: Notice) -> dict[str, Any]:
        raise NotImplementedError

    def headers(self, raw: bytes, payload: dict[str, Any], notice: Notice) -> dict[str, str]:
        return {}

    def send(self, notice: Notice) -> None:
        url = self.channel.webhook_url
        if not url:
            raise TransportError("The channel has no webhook URL.", permanent=True)
        payload = self.body(notice)
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **self.headers(raw, payload, notice)}
        try:
            response = httpx.post(url, content=raw, headers=headers, timeout=TIMEOUT, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise TransportError(scrub(f"{self.kind} unreachable: {type(exc).__name__}: {exc}", self.secrets)) from None
        self.check(response)

    def check(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = scrub(f"{self.kind} answered {status}: {response.text[:200]}", self.secrets)
        if status == 429:
            raise TransportError(detail, retry_after=self.retry_after(response))
        if 300 <= status < 500:
            raise TransportError(detail, permanent=True)
        raise TransportError(detail)

    @staticmethod
    def retry_after(response: httpx.Response) -> float | None:
        try:
            value = response.json().get("retry_after")
            if value is not None:
                return float(value)
        except (ValueError, AttributeError):
            pass
        header = response.headers.get("Retry-After")
        try:
            return float(header) if header else None
        except ValueError:
            return None


class WebhookTransport(HttpTransport):
    """Generic webhook: the notice as JSON, signed with the channel's key (see docs/alerts.md)."""

    kind = ChannelKind.WEBHOOK

    def body(self, notice: Notice) -> dict[str, Any]:
        return {**notice.as_json(), "timestamp": int(time.time())}

    def headers(self, raw: bytes, payload: dict[str, Any], notice: Notice) -> dict[str, str]:
        headers = {"X-Timestamp": str(payload["timestamp"]), "X-Delivery": str(notice.delivery_id)}
        if self.channel.signing_secret:
            digest = hmac.new(self.channel.signing_secret.encode(), raw, hashlib.sha256).hexdigest()
            headers["X-Signature"] = f"sha256={digest}"
        return headers


class SlackTransport(HttpTransport):
    """Slack incoming webhook: `{"text": ...}`, answered 200 "ok"."""

    kind = ChannelKind.SLACK

    def body(self, notice: Notice) -> dict[str, Any]:
        return {"text": notice.text()[: MAX_TEXT["slack"]]}


class DiscordTransport(HttpTransport):
    """Discord webhook: `{"content": ...}`, answered 204; a 429 carries `retry_after` in JSON."""

    kind = ChannelKind.DISCORD

    def body(self, notice: Notice) -> dict[str, Any]:
        return {"content": notice.text()[: MAX_TEXT["discord"]], "allowed_mentions": {"parse": []}}


# Higher apps add theirs in their AppConfig.ready() (chatops: `members`, the platform's own bot).
TRANSPORTS: dict[str, type[Transport]] = {
    t.kind: t for t in (EmailTransport, TelegramTransport, WebhookTransport, SlackTransport, DiscordTransport)
}


def transport_for(channel: AlertChannel) -> Transport:
    transport = TRANSPORTS.get(channel.kind)
    if transport is None:
        raise TransportError(f"No transport delivers {channel.kind!r} channels in this process.", permanent=True)
    return transport(channel)
