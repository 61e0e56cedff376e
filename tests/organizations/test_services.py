"""Members and API keys."""

import datetime as dt

import pytest
from django.utils import timezone

from core.errors import ApplicationError, PermissionDeniedError
from organizations.models import ApiKey, Role
from organizations.services import api_key_create, api_key_revoke, membership_set
from tests.factories import UserFactory


def test_the_full_key_is_returned_once_and_only_its_hash_is_stored(org_a, alice):
    key, full = api_key_create(organization=org_a, name="ci", scopes=["read", "trade"], actor=alice)
    prefix, secret = full.split(".", 1)
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.prefix == prefix
    assert secret not in stored.hashed_secret and stored.check_secret(secret)
    assert not stored.check_secret(secret + "x")
    assert stored.scopes == ["read", "trade"]
    assert stored.is_usable


def test_only_owners_manage_keys(org_a, member):
    with pytest.raises(PermissionDeniedError):
        api_key_create(organization=org_a, name="x", scopes=["read"], actor=member(Role.ADMIN))


def test_bad_scopes_and_past_expiry_name_the_field(org_a, alice):
    with pytest.raises(ApplicationError) as caught:
        api_key_create(organization=org_a, name="x", scopes=["root"], actor=alice)
    assert caught.value.field == "scopes"
    with pytest.raises(ApplicationError) as caught:
        api_key_create(
            organization=org_a, name="x", scopes=["read"], actor=alice, expires_at=timezone.now() - dt.timedelta(1)
        )
    assert caught.value.field == "expires_at"
    assert not ApiKey.objects.exists()


def test_revoked_and_expired_keys_are_unusable(org_a, alice):
    key, _ = api_key_create(organization=org_a, name="x", scopes=["read"], actor=alice)
    api_key_revoke(api_key=key, actor=alice)
    assert not ApiKey.objects.get(pk=key.pk).is_usable
    key2, _ = api_key_create(
        organization=org_a, name="y", scopes=["read"], actor=alice, expires_at=timezone.now() + dt.timedelta(seconds=1)
    )
    ApiKey.objects.filter(pk=key2.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert not ApiKey.objects.get(pk=key2.pk).is_usable


def test_an_organization_keeps_an_owner(org_a, alice):
    with pytest.raises(ApplicationError, match="at least one owner"):
        membership_set(organization=org_a, user=alice, role=Role.VIEWER, actor=alice)
    newcomer = UserFactory()
    membership_set(organization=org_a, user=newcomer, role=Role.OWNER, actor=alice)
    membership_set(organization=org_a, user=alice, role=Role.VIEWER, actor=alice)
    assert alice.memberships.get().role == Role.VIEWER
