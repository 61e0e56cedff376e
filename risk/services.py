"""Writes on risk state: the kill switches.

Engaging a switch stops the bots it covers, but bots sit above risk: the switch is recorded and
audited here, then announced on `risk.signals.kill_switch_engaged`, and `bots` stops its bots in
its receiver (synchronously, so the call returns with them stopped, as before)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, PermissionDeniedError
from core.events import EventLevel, EventSource, event_record
from organizations.models import Organization, Role
from organizations.permissions import require_role
from risk.models import KillSwitch, KillSwitchAction
from risk.signals import kill_switch_engaged


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
            event_record(
                organization_id=org_id,
                kind="risk.kill_switch_engaged",
                message=f"Kill switch engaged ({'global' if organization is None else 'organization'}): {reason}",
                level=EventLevel.CRITICAL,
                actor=user,
                source=source,
            )
    kill_switch_engaged.send(sender=KillSwitch, organization=organization, user=user, source=source)
    return switch


def kill_switch_action_set(*, organization: Organization, action: str, user=None) -> KillSwitch:
    """Choose what engaging the organization's switch does: cancel (orders canceled, bots stopped)
    or flatten (that, then every position closed with reduce-only market orders). Admin role."""
    require_role(user=user, organization=organization, role=Role.ADMIN, action="Choosing the kill switch action")
    if action not in KillSwitchAction.values:
        raise ApplicationError(
            f"The kill switch action is one of {', '.join(KillSwitchAction.values)}, not {action!r}.", field="action"
        )
    with transaction.atomic():
        switch, _ = KillSwitch.objects.select_for_update().get_or_create(organization=organization)
        if switch.action != action:
            switch.action = action
            switch.save(update_fields=["action"])
            event_record(
                organization_id=organization.pk,
                kind="risk.kill_switch_action",
                message=f"Kill switch action set to {action}.",
                level=EventLevel.INFO,
                actor=user,
            )
    return switch


def kill_switch_actions(organization_ids: list[int]) -> dict[int, str]:
    """Each organization's chosen action (cancel when it never chose)."""
    chosen = dict(
        KillSwitch.objects.filter(organization_id__in=organization_ids).values_list("organization_id", "action")
    )
    return {org_id: chosen.get(org_id, KillSwitchAction.CANCEL) for org_id in organization_ids}


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
            event_record(
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
