"""Who is calling and what they may touch: a member through a session, or an organization's API key.

Every queryset of the API goes through `Access.scope`; every write checks `Access.require`, which is
the member's role (organizations.permissions) or the key's scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from rest_framework import permissions

from bots.models import EventSource
from core.errors import ApplicationError, PermissionDeniedError
from organizations.models import ApiKey, ApiKeyScope, Organization, Role
from organizations.permissions import require_role
from organizations.tenancy import organization_ids_for_user

# The scope a key needs for what the role allows a member.
SCOPE_FOR_ROLE = {
    Role.VIEWER: ApiKeyScope.READ,
    Role.TRADER: ApiKeyScope.TRADE,
    Role.ADMIN: ApiKeyScope.ADMIN,
    Role.OWNER: ApiKeyScope.ADMIN,
}


@dataclass(frozen=True)
class Access:
    user: object
    api_key: ApiKey | None

    @classmethod
    def of(cls, request) -> Access:
        key = request.auth if isinstance(request.auth, ApiKey) else None
        return cls(user=None if key else request.user, api_key=key)

    @property
    def service_user(self):
        """What services get as `user`: the member, or None (the system) for a key whose scope was checked."""
        return self.user

    @property
    def source(self) -> str:
        return EventSource.API

    def scope(self, queryset: QuerySet) -> QuerySet:
        if self.api_key is not None:
            return queryset.for_organization(self.api_key.organization_id)
        return queryset.for_user(self.user)

    def organizations(self) -> QuerySet:
        if self.api_key is not None:
            return Organization.objects.filter(pk=self.api_key.organization_id)
        if not self.user.is_authenticated:
            return Organization.objects.none()
        return Organization.objects.filter(pk__in=organization_ids_for_user(self.user))

    def require(self, *, organization: Organization | int, role: str, action: str) -> None:
        """The member's role in the organization, or the key's scope, must allow the action."""
        if self.api_key is None:
            require_role(user=self.user, organization=organization, role=role, action=action)
            return
        org_id = getattr(organization, "pk", organization)
        scope = SCOPE_FOR_ROLE[Role(role)]
        if org_id != self.api_key.organization_id or scope not in self.api_key.scopes:
            raise PermissionDeniedError(f"{action} needs an API key with the {scope} scope.")

    def require_key(self, *, organization: Organization | int, role: str, action: str) -> None:
        """An API key's scope must allow the action; a member's role is left to the service called next."""
        if self.api_key is not None:
            self.require(organization=organization, role=role, action=action)

    def organization_for_write(self, requested: Organization | None) -> Organization:
        """The organization a new row belongs to: the key's, the one asked for, or the member's only one."""
        if requested is not None:
            return requested
        orgs = list(self.organizations()[:2])
        if len(orgs) == 1:
            return orgs[0]
        raise ApplicationError("Choose the organization.", field="organization", code="required")

    def audit_data(self) -> dict:
        """Added to event data so an API key's actions can be traced to the key."""
        return {"api_key": self.api_key.prefix} if self.api_key is not None else {}


class IsMemberOrApiKey(permissions.BasePermission):
    """A signed-in user or a valid API key. Keys read only with the read scope; every write
    checks a role or scope in the view through `Access.require`."""

    def has_permission(self, request, view) -> bool:
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is not None:
            if request.method in permissions.SAFE_METHODS and ApiKeyScope.READ not in key.scopes:
                self.message = "Reading needs an API key with the read scope."
                return False
            return True
        return bool(request.user and request.user.is_authenticated)
