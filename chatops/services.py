"""Linking a member's Telegram chat: a one-time code from the dashboard, claimed by `/start
<code>` in the chat; unlinking from either side. Every link and unlink is an audit event in each
of the member's organizations (the chat reaches all of them). Codes are never logged or stored:
only their SHA-256."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import re
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from chatops.models import TelegramLink, TelegramLinkCode
from core.errors import ApplicationError
from core.events import EventSource, event_record
from organizations.models import Membership, Organization

logger = logging.getLogger(__name__)

# Telegram's deep-link start parameter: up to 64 of A-Z, a-z, 0-9, _ and -.
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
INVALID_CODE = "This link code is unknown, already used or expired. Make a new one on the dashboard."


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def link_ttl() -> dt.timedelta:
    return dt.timedelta(minutes=int(getattr(settings, "TELEGRAM_LINK_CODE_MINUTES", 15)))


def deep_link(code: str) -> str | None:
    """https://t.me/<bot>?start=<code>, when the bot's username is configured."""
    username = (getattr(settings, "TELEGRAM_BOT_USERNAME", "") or "").lstrip("@")
    return f"https://t.me/{username}?start={code}" if username else None


def _audit(*, user, kind: str, message: str, source: str, data: dict) -> None:
    for organization_id in Membership.objects.filter(user=user).values_list("organization_id", flat=True):
        event_record(organization_id=organization_id, kind=kind, message=message, actor=user, source=source, data=data)


def link_code_create(*, user, now: dt.datetime | None = None) -> tuple[str, dt.datetime]:
    """A new one-time code for `user` (their earlier unused codes stop working). Returns the code,
    shown once, and when it expires."""
    if not Membership.objects.filter(user=user).exists():
        raise ApplicationError("Only a member of an organization can link Telegram.", code="permission_denied")
    now = now or timezone.now()
    code = secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]
    expires_at = now + link_ttl()
    with transaction.atomic():
        TelegramLinkCode.objects.filter(user=user, used_at__isnull=True).delete()
        TelegramLinkCode.objects.create(user=user, code_hash=code_digest(code), expires_at=expires_at)
    return code, expires_at


def link_claim(*, code: str, chat_id: int, username: str = "", now: dt.datetime | None = None) -> TelegramLink:
    """`/start <code>` from a private chat: the code's member is linked to this chat. A code works
    once and until it expires; a chat linked to another member is refused (unlink it first).
    A member linking a new chat moves their link to it."""
    now = now or timezone.now()
    code = (code or "").strip()
    if not CODE_PATTERN.match(code):
        raise ApplicationError(INVALID_CODE, field="code", code="invalid_code")
    with transaction.atomic():
        row = (
            TelegramLinkCode.objects.select_for_update()
            .select_related("user")
            .filter(code_hash=code_digest(code), used_at__isnull=True, expires_at__gt=now)
            .first()
        )
        if row is None:
            raise ApplicationError(INVALID_CODE, field="code", code="invalid_code")
        user = row.user
        taken = TelegramLink.objects.filter(chat_id=chat_id).exclude(user=user).exists()
        if taken:
            raise ApplicationError(
                "This chat is already linked to another member; send /unlink here first.", code="chat_taken"
            )
        row.used_at = now
        row.save(update_fields=["used_at"])
        first_org = (
            Membership.objects.filter(user=user)
            .order_by("organization__name")
            .values_list("organization_id", flat=True)
            .first()
        )
        try:
            link, _ = TelegramLink.objects.update_or_create(
                user=user,
                defaults={"chat_id": chat_id, "username": (username or "")[:64], "organization_id": first_org},
            )
        except IntegrityError:  # the chat was linked by someone else meanwhile
            raise ApplicationError(
                "This chat is already linked to another member; send /unlink here first.", code="chat_taken"
            ) from None
        _audit(
            user=user,
            kind="telegram.linked",
            message=f"{user.get_username()} linked a Telegram chat{f' (@{username})' if username else ''}.",
            source=EventSource.TELEGRAM,
            data={"chat_id": chat_id},
        )
    return link


def link_remove(*, link: TelegramLink, source: str = EventSource.DASHBOARD) -> None:
    """Unlink, from the dashboard (the member) or from the chat (/unlink): the chat can do nothing
    more until it is linked again."""
    user = link.user
    with transaction.atomic():
        _audit(
            user=user,
            kind="telegram.unlinked",
            message=f"{user.get_username()} unlinked their Telegram chat.",
            source=source,
            data={"chat_id": link.chat_id},
        )
        link.delete()


def link_for_chat(chat_id: int) -> TelegramLink | None:
    """The link of a chat, with its user, selected organization and the member's membership in
    it (`selected_membership`, None when they left it); None for an unknown chat.

    Every command starts here, and the ORM spends most of a millisecond compiling this four-table
    query, more than the rest of a short command: the SQL is written once (`_link_query`, its
    columns from the models) and the rows made into instances as the ORM would."""
    sql, layout = _link_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [chat_id])
        row = cursor.fetchone()
    if row is None:
        return None
    instances, at = [], 0
    for model, fields in layout:
        values = row[at : at + len(fields)]
        at += len(fields)
        if values[0] is None:  # no organization selected, or no membership in it
            instances.append(None)
            continue
        values = [_from_db(field, value) for field, value in zip(fields, values, strict=True)]
        instances.append(model.from_db(connection.alias, [field.attname for field in fields], values))
    link, user, organization, membership = instances
    link.user, link.organization = user, organization
    if membership is not None:
        membership.user, membership.organization = user, organization
    link.selected_membership = membership
    link.selected_membership_for = link.organization_id  # what it was read for
    return link


def _from_db(field, value):
    for converter in field.get_db_converters(connection):
        value = converter(value, field, connection)
    return value


@functools.cache
def _link_query() -> tuple[str, list[tuple[type, list]]]:
    """The SQL of `link_for_chat` and its layout: each model with its fields, pk first, in the
    order of the columns."""
    quote = connection.ops.quote_name
    user_model = get_user_model()
    tables = [(TelegramLink, "l"), (user_model, "u"), (Organization, "o"), (Membership, "m")]
    layout = [
        (model, [model._meta.pk, *(f for f in model._meta.concrete_fields if not f.primary_key)]) for model, _ in tables
    ]
    columns = ", ".join(
        f"{alias}.{quote(field.column)}"
        for (_, alias), (_, fields) in zip(tables, layout, strict=True)
        for field in fields
    )

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    def table(model) -> str:
        return quote(model._meta.db_table)

    sql = (
        f"SELECT {columns} FROM {table(TelegramLink)} l"
        f" JOIN {table(user_model)} u ON u.{quote(user_model._meta.pk.column)} = l.{column(TelegramLink, 'user')}"
        f" LEFT JOIN {table(Organization)} o"
        f" ON o.{quote(Organization._meta.pk.column)} = l.{column(TelegramLink, 'organization')}"
        f" LEFT JOIN {table(Membership)} m ON m.{column(Membership, 'user')} = l.{column(TelegramLink, 'user')}"
        f" AND m.{column(Membership, 'organization')} = l.{column(TelegramLink, 'organization')}"
        f" WHERE l.{column(TelegramLink, 'chat_id')} = %s"
    )
    return sql, layout


def link_touch(link: TelegramLink, *, now: dt.datetime | None = None) -> None:
    """Note the chat's last command (at most once a minute, so a busy chat costs no write a command)."""
    now = now or timezone.now()
    if link.last_command_at is None or now - link.last_command_at >= dt.timedelta(minutes=1):
        TelegramLink.objects.filter(pk=link.pk).update(last_command_at=now)
        link.last_command_at = now
