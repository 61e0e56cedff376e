"""Linking a Telegram chat: the one-time code from the dashboard, claimed once before it expires,
a chat that belongs to another member refused, unlinking from either side, all audited in each of
the member's organizations; the code is stored as its digest only."""

import datetime as dt

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from bots.models import BotEvent
from chatops.models import TelegramLink, TelegramLinkCode
from chatops.services import code_digest, link_claim, link_code_create, link_for_chat, link_remove
from core.errors import ApplicationError
from organizations.models import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
CHAT = 777000111


def test_a_code_links_the_chat_once_and_is_stored_as_its_digest(org_a, org_b, member):
    viewer = member(Role.VIEWER)
    MembershipFactory(user=viewer, organization=org_b, role=Role.TRADER)
    code, expires_at = link_code_create(user=viewer)
    assert 16 <= len(code) <= 64 and expires_at > timezone.now()
    row = TelegramLinkCode.objects.get(user=viewer)
    assert row.code_hash == code_digest(code) and code not in row.code_hash

    link = link_claim(code=code, chat_id=CHAT, username="vee")
    assert (link.user, link.chat_id, link.username) == (viewer, CHAT, "vee")
    assert link.organization in (org_a, org_b)
    assert link_for_chat(CHAT) == link and link_for_chat(CHAT + 1) is None
    # Audited in both organizations, naming Telegram; no code in the log.
    events = BotEvent.objects.filter(kind="telegram.linked")
    assert {e.organization_id for e in events} == {org_a.pk, org_b.pk}
    assert all(e.source == "telegram" and e.actor_id == viewer.pk and code not in str(e.data) for e in events)

    with pytest.raises(ApplicationError) as used:
        link_claim(code=code, chat_id=CHAT + 5)
    assert used.value.code == "invalid_code"
    assert TelegramLink.objects.get().chat_id == CHAT


@pytest.mark.parametrize("code", ["", "short", "x" * 65, "bad code with spaces!!", "A" * 32])
def test_unknown_or_malformed_codes_are_refused_and_link_nothing(org_a, member, code):
    link_code_create(user=member(Role.TRADER))
    with pytest.raises(ApplicationError) as refused:
        link_claim(code=code, chat_id=CHAT)
    assert refused.value.code == "invalid_code"
    assert not TelegramLink.objects.exists()


def test_an_expired_code_and_a_replaced_code_do_not_work(org_a, member):
    user = member(Role.TRADER)
    old, _ = link_code_create(user=user, now=timezone.now() - dt.timedelta(minutes=20))
    with pytest.raises(ApplicationError, match="expired"):
        link_claim(code=old, chat_id=CHAT)
    first, _ = link_code_create(user=user)
    second, _ = link_code_create(user=user)
    with pytest.raises(ApplicationError):
        link_claim(code=first, chat_id=CHAT)
    assert link_claim(code=second, chat_id=CHAT).user == user


def test_a_chat_of_another_member_is_refused_and_a_new_chat_moves_the_link(org_a, member):
    alice, bob = member(Role.OWNER), member(Role.TRADER)
    link_claim(code=link_code_create(user=alice)[0], chat_id=CHAT)
    with pytest.raises(ApplicationError) as taken:
        link_claim(code=link_code_create(user=bob)[0], chat_id=CHAT)
    assert taken.value.code == "chat_taken"
    assert TelegramLink.objects.get(chat_id=CHAT).user == alice
    link_claim(code=link_code_create(user=alice)[0], chat_id=CHAT + 1)
    assert list(TelegramLink.objects.values_list("user_id", "chat_id")) == [(alice.pk, CHAT + 1)]


def test_someone_without_an_organization_cannot_make_a_code(db):
    with pytest.raises(ApplicationError):
        link_code_create(user=UserFactory())
    assert not TelegramLinkCode.objects.exists()


def test_unlink_from_the_chat_side_is_audited(org_a, member):
    user = member(Role.VIEWER)
    link = link_claim(code=link_code_create(user=user)[0], chat_id=CHAT)
    link_remove(link=link, source="telegram")
    assert not TelegramLink.objects.exists() and link_for_chat(CHAT) is None
    event = BotEvent.objects.get(kind="telegram.unlinked")
    assert event.source == "telegram" and event.organization_id == org_a.pk


@override_settings(TELEGRAM_BOT_USERNAME="@desk_bot", TELEGRAM_BOT_TOKEN="123:abc")
def test_the_dashboard_page_shows_the_code_once_and_unlinks(client, member, org_a):
    user = member(Role.VIEWER)
    client.force_login(user)
    url = reverse("dashboard:telegram")
    page = client.get(url).content.decode()
    assert "Not linked." in page and "Link Telegram" in page

    answer = client.post(url, {"make_code": "1"})
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    body = answer.content.decode()
    code = body.split('<code id="telegram-start">/start ')[1].split("</code>")[0]
    assert f'href="https://t.me/desk_bot?start={code}"' in body
    assert code not in client.get(url).content.decode()

    link_claim(code=code, chat_id=CHAT, username="vee")
    linked = client.get(url).content.decode()
    assert "@vee" in linked and "Unlink" in linked
    assert client.post(url, {"unlink": "1"}).status_code == 302
    assert not TelegramLink.objects.exists()
    assert BotEvent.objects.get(kind="telegram.unlinked").source == "dashboard"


def test_the_page_needs_a_login(client):
    assert client.get(reverse("dashboard:telegram")).status_code == 302
