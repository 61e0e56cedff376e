"""Role checks shared by every surface: services call `require_role` so admin, API, dashboard and
tasks enforce the same rule from one place."""

from __future__ import annotations

from core.errors import PermissionDeniedError
from organizations.models import ROLE_RANK, Membership, Organization, Role


def membership_role(*, user, organization: Organization | int) -> str | None:
    """The user's role in the organization, or None when they are not a member."""
    if user is None or not user.is_authenticated:
        return None
    org_id = getattr(organization, "pk", organization)
    return Membership.objects.filter(user_id=user.pk, organization_id=org_id).values_list("role", flat=True).first()


def user_has_role(*, user, organization: Organization | int, role: str) -> bool:
    if user is not None and user.is_authenticated and user.is_superuser:
        return True
    current = membership_role(user=user, organization=organization)
    return current is not None and ROLE_RANK[Role(current)] >= ROLE_RANK[Role(role)]


def require_role(*, user, organization: Organization | int, role: str, action: str) -> None:
    """Raise unless `user` holds at least `role` in the organization.

    `user=None` means the system itself (beat jobs, the watchdog, the bridge) and is always allowed.
    """
    if user is None:
        return
    if not user_has_role(user=user, organization=organization, role=role):
        raise PermissionDeniedError(f"{action} needs the {Role(role).label.lower()} role or higher.")
