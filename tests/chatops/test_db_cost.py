"""What a command costs the database: the chat's link, user, organization and role in one query
(re-read for every command, so a role change or a member leaving counts at once), and the
request's health check only when the thread's connection has been idle."""

import asyncio

import pytest
from django.db import connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chatops.bot import OrmPool
from chatops.commands import status_command
from chatops.models import TelegramLink
from chatops.services import link_claim, link_code_create, link_for_chat
from organizations.models import Membership, Role
from tests.factories import MembershipFactory

CHAT = 880011


def linked(user):
    return link_claim(code=link_code_create(user=user)[0], chat_id=CHAT)


@pytest.mark.django_db
def test_the_link_and_the_role_come_in_one_query_and_are_never_stale(member, org_a, org_b):
    user = member(Role.VIEWER)
    MembershipFactory(user=user, organization=org_b, role=Role.OWNER)
    link = linked(user)
    TelegramLink.objects.filter(pk=link.pk).update(organization=org_a)

    with CaptureQueriesContext(connection) as queries:
        link = link_for_chat(CHAT)
        assert (link.user, link.organization, link.selected_membership.role) == (user, org_a, Role.VIEWER)
        assert link.selected_membership.organization.name == org_a.name
    assert len(queries) == 1

    with CaptureQueriesContext(connection) as queries:
        assert status_command(link).text.startswith(f"{org_a.name} (you: viewer)")
    assert len(queries) == 2  # the bots by status, the kill switch; no membership query

    Membership.objects.filter(user=user, organization=org_a).update(role=Role.TRADER)
    assert status_command(link_for_chat(CHAT)).text.startswith(f"{org_a.name} (you: trader)")

    # Left the selected organization: the next command moves the chat to the one left.
    Membership.objects.filter(user=user, organization=org_a).delete()
    link = link_for_chat(CHAT)
    assert link.selected_membership is None
    assert status_command(link).text.startswith(f"{org_b.name} (you: owner)")
    assert TelegramLink.objects.get(pk=link.pk).organization == org_b


def fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


@pytest.mark.django_db
def test_the_link_read_in_sql_is_what_the_orm_reads(member, org_a):
    user = member(Role.TRADER)
    link = linked(user)
    TelegramLink.objects.filter(pk=link.pk).update(organization=org_a, last_command_at=timezone.now())
    read = link_for_chat(CHAT)
    orm = TelegramLink.objects.select_related("user", "organization").get(chat_id=CHAT)
    assert fields(read) == fields(orm) and read.last_command_at.tzinfo is not None
    assert fields(read.user) == fields(orm.user) and fields(read.organization) == fields(orm.organization)
    assert fields(read.selected_membership) == fields(Membership.objects.get(user=user, organization=org_a))
    read.username = "renamed"
    read.save(update_fields=["username"])  # a saveable instance, as the ORM makes it
    assert TelegramLink.objects.get(pk=link.pk).username == "renamed"

    TelegramLink.objects.filter(pk=link.pk).update(organization=None)
    read = link_for_chat(CHAT)
    assert (read.organization, read.selected_membership, read.user) == (None, None, user)


@pytest.mark.django_db(transaction=True)
def test_the_health_check_is_made_after_the_connection_idled(monkeypatch):
    checks = []
    usable = DatabaseWrapper.is_usable

    def counted(self):
        checks.append(self.alias)
        return usable(self)

    monkeypatch.setattr(DatabaseWrapper, "is_usable", counted)
    # As in production (the test settings close a connection after each request).
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    pool = OrmPool(1)

    def query():
        with connections["default"].cursor() as cursor:  # this thread's connection
            cursor.execute("SELECT 2")

    async def run(times: int):
        for _ in range(times):
            await pool.run(query)

    try:
        asyncio.run(run(1))
        opened = len(checks)  # a new connection: no check before its first query
        asyncio.run(run(3))
        assert len(checks) == opened  # used a moment ago: taken as sound
        pool.health_check_idle = 0.0  # as if it idled between every two calls
        asyncio.run(run(2))
        assert len(checks) == opened + 2
    finally:
        pool.close()
