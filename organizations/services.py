"""Writes on organizations, memberships and API keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from organizations.models import ApiKey, ApiKeyScope, Membership, Organization, Role, hash_api_secret
from organizations.permissions import require_role


@transaction.atomic
def membership_set(*, organization: Organization, user, role: str, actor=None) -> Membership:
    """Add a member or change their role. Only owners manage members; an organization always keeps
    at least one owner."""
    require_role(user=actor, organization=organization, role=Role.OWNER, action="Managing members")
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.", field="role")
    membership, created = Membership.objects.select_for_update().get_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        if membership.role == Role.OWNER and _owner_count(organization) == 1:
            raise ApplicationError("An organization must keep at least one owner.", field="role")
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def _owner_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: Iterable[str],
    actor=None,
    expires_at: dt.datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with the full secret, which is never retrievable again."""
    require_role(user=actor, organization=organization, role=Role.OWNER, action="Creating API keys")
    scopes = sorted(set(scopes))
    unknown = set(scopes) - set(ApiKeyScope.values)
    if not scopes or unknown:
        raise ApplicationError("Scopes must be a non-empty subset of read, trade, admin.", field="scopes")
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry must be in the future.", field="expires_at")
    prefix, secret, full_key = ApiKey.generate()
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=prefix,
        hashed_secret=hash_api_secret(secret),
        scopes=scopes,
        expires_at=expires_at,
        created_by=actor,
    )
    return key, full_key


def api_key_revoke(*, api_key: ApiKey, actor=None) -> ApiKey:
    require_role(user=actor, organization=api_key.organization_id, role=Role.OWNER, action="Revoking API keys")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key
