"""Two organizations with two users (alice and bob), and helpers for roles and staff."""

import pytest
from django.contrib.auth.models import Permission

from organizations.models import Role
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytest_plugins = ["tests.paper_fixtures"]

OUR_APPS = [
    "organizations",
    "exchanges",
    "bots",
    "hummingbot",
    "risk",
    "analytics",
    "alerts",
    "backtest",
    "signals",
    "chatops",
    "dex",
]


@pytest.fixture
def org_a(db):
    return OrganizationFactory(name="Alpha Capital", slug="alpha")


@pytest.fixture
def org_b(db):
    return OrganizationFactory(name="Beta Funds", slug="beta")


@pytest.fixture
def alice(org_a):
    """Owner of org A."""
    user = UserFactory(username="alice")
    MembershipFactory(user=user, organization=org_a, role=Role.OWNER)
    return user


@pytest.fixture
def bob(org_b):
    """Owner of org B."""
    user = UserFactory(username="bob")
    MembershipFactory(user=user, organization=org_b, role=Role.OWNER)
    return user


@pytest.fixture
def member(org_a):
    """Make a user with a given role in org A: member(Role.VIEWER)."""

    def make(role: str, *, organization=None, staff: bool = False):
        user = UserFactory(is_staff=staff)
        MembershipFactory(user=user, organization=organization or org_a, role=role)
        return user

    return make


@pytest.fixture
def superuser(db):
    return UserFactory(username="root-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def scoped_staff(org_a):
    """A staff user (not superuser) with every model permission, admin of org A only."""
    user = UserFactory(username="operator", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=OUR_APPS))
    MembershipFactory(user=user, organization=org_a, role=Role.ADMIN)
    return user
