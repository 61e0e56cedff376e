"""The admin's list of linked chats: scoped to the staff member's organizations, read-only, with an
audited Unlink action that needs the admin role in one of the member's organizations."""

import pytest

from bots.models import BotEvent
from chatops.models import TelegramLink
from chatops.services import link_claim, link_code_create, link_touch
from organizations.models import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/admin/chatops/telegramlink/"


def linked(org, chat, role=Role.VIEWER):
    user = UserFactory()
    MembershipFactory(user=user, organization=org, role=role)
    return link_claim(code=link_code_create(user=user)[0], chat_id=chat)


def test_staff_see_their_members_links_and_unlink_them(client, scoped_staff, org_a, org_b):
    ours, theirs = linked(org_a, 501), linked(org_b, 502)
    client.force_login(scoped_staff)
    page = client.get(URL).content.decode()
    assert ">501<" in page and ">502<" not in page
    assert client.get(f"{URL}add/").status_code == 403

    response = client.post(URL, {"action": "unlink", "_selected_action": [ours.pk, theirs.pk]})
    assert response.status_code == 302
    assert not TelegramLink.objects.filter(pk=ours.pk).exists()
    assert TelegramLink.objects.filter(pk=theirs.pk).exists()  # outside the staff member's organizations
    event = BotEvent.objects.get(organization=org_a, kind="telegram.unlinked")
    assert event.source == "admin"


def test_a_staff_trader_cannot_unlink(client, scoped_staff, org_a, org_b):
    from organizations.models import Membership

    link = linked(org_b, 503)
    Membership.objects.create(user=scoped_staff, organization=org_b, role=Role.TRADER)  # sees it, may not unlink
    client.force_login(scoped_staff)
    assert ">503<" in client.get(URL).content.decode()
    client.post(URL, {"action": "unlink", "_selected_action": [link.pk]})
    assert TelegramLink.objects.filter(pk=link.pk).exists()


def test_the_last_command_time_is_written_at_most_once_a_minute(org_a):
    import datetime as dt

    from django.utils import timezone

    link = linked(org_a, 504)
    now = timezone.now()
    link_touch(link, now=now)
    link_touch(link, now=now + dt.timedelta(seconds=30))
    assert TelegramLink.objects.get(pk=link.pk).last_command_at == now
    link_touch(link, now=now + dt.timedelta(seconds=61))
    assert TelegramLink.objects.get(pk=link.pk).last_command_at == now + dt.timedelta(seconds=61)
