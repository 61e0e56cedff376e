"""Writes on risk state: the kill switches."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from bots.models import Bot, EventLevel, EventSource
from bots.services import bot_event_record, bot_stop
from bots.state import ACTIVE_STATUSES, BotStatus
from core.errors import ApplicationError, PermissionDeniedError
from organizations.models import Organization, Role
from organizations.permissions import require_role
from risk.models import KillSwitch


def kill_switch_engage(
    *, organization: Organization | None, user=None, reason: str = "", source: str = EventSource.SYSTEM
) -> KillSwitch:
    """Engage the organization's kill switch (or the global one when `organization` is None) and
    stop every bot it covers. Needs the admin role; the global switch needs a superuser."""
    _require_switch_rights(organization=organization, user=user)
    if not reason.strip():
        raise ApplicationError("Say why the kill switch is engaged.", field="reason")
    with transaction.atomic():
        switch, _ = KillSwitch.objects.select_for_update().get_or_create(organization=organization)
        switch.engaged = True
        switch.reason = reason.strip()
        switch.changed_by = user if user is not None and user.is_authenticated else None
        switch.changed_at = timezone.now()
        switch.save()
        for org_id in _organization_ids(organization):
            bot_event_record(
                organization_id=org_id,
                kind="risk.kill_switch_engaged",
                message=f"Kill switch engaged ({'global' if organization is None else 'organization'}): {reason}",
                level=EventLevel.CRITICAL,
                actor=user,
                source=source,
            )
    _stop_bots(organization=organization, user=user, source=source)
    return switch


def kill_switch_release(
    *, organization: Organization | None, user=None, source: str = EventSource.SYSTEM
) -> KillSwitch:
    """Release a switch. Bots stay stopped: each must be started again on purpose."""
    _require_switch_rights(organization=organization, user=user)
    with transaction.atomic():
        switch, _ = KillSwitch.objects.select_for_update().get_or_create(organization=organization)
        switch.engaged = False
        switch.changed_by = user if user is not None and user.is_authenticated else None
        switch.changed_at = timezone.now()
        switch.save()
        for org_id in _organization_ids(organization):
            bot_event_record(
                organization_id=org_id,
                kind="risk.kill_switch_released",
                message=f"Kill switch released ({'global' if organization is None else 'organization'}).",
                level=EventLevel.WARNING,
                actor=user,
                source=source,
            )
    return switch


def _require_switch_rights(*, organization: Organization | None, user) -> None:
    if organization is None:
        if user is not None and not user.is_superuser:
            raise PermissionDeniedError("Only platform superusers operate the global kill switch.")
        return
    require_role(user=user, organization=organization, role=Role.ADMIN, action="Operating the kill switch")


def _organization_ids(organization: Organization | None) -> list[int]:
    if organization is not None:
        return [organization.pk]
    return list(Organization.objects.values_list("pk", flat=True))


def _stop_bots(*, organization: Organization | None, user, source: str) -> None:
    bots = Bot.objects.filter(status__in=ACTIVE_STATUSES | {BotStatus.STARTING}).select_related("exchange_account")
    if organization is not None:
        bots = bots.for_organization(organization)
    for bot in bots:
        # The switch is the authority here: stop as the system so a trader-less admin still halts all.
        try:
            bot_stop(bot=bot, user=None, source=source, reason="kill switch")
        except ApplicationError:
            # Lost a race with another stop: the bot is already on its way down.
            continue
