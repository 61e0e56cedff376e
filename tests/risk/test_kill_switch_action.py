"""What engaging the kill switch does is chosen per organization (cancel only, or cancel and
flatten), through the API, the dashboard and the admin, by admins only, audited."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from bots.models import BotEvent
from organizations.models import Role
from risk.models import KillSwitch

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def action_of(org) -> str:
    switch = KillSwitch.objects.filter(organization=org).first()
    return switch.action if switch else "cancel"


def test_the_api_shows_and_sets_the_action(alice, org_a, org_b):
    client = api(alice)
    assert client.get(f"/api/v1/kill-switch/{org_a.pk}/").json()["action"] == "cancel"
    response = client.post(f"/api/v1/kill-switch/{org_a.pk}/action/", {"action": "flatten"}, format="json")
    assert response.status_code == 200 and response.json()["action"] == "flatten"
    assert action_of(org_a) == "flatten" and action_of(org_b) == "cancel"
    assert BotEvent.objects.filter(organization=org_a, kind="risk.kill_switch_action").count() == 1
    bad = client.post(f"/api/v1/kill-switch/{org_a.pk}/action/", {"action": "panic"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "action"
    assert client.post(f"/api/v1/kill-switch/{org_b.pk}/action/", {"action": "flatten"}).status_code == 404


def test_a_trader_cannot_choose_it(member, org_a):
    trader = member(Role.TRADER)
    assert api(trader).post(f"/api/v1/kill-switch/{org_a.pk}/action/", {"action": "flatten"}).status_code == 403
    from django.test import Client

    browser = Client()
    browser.force_login(trader)
    response = browser.post(reverse("dashboard:kill_switch"), {"action": "set_action", "kill_action": "flatten"})
    assert response.status_code == 403
    assert action_of(org_a) == "cancel"


def test_the_dashboard_shows_and_sets_the_action(client, alice, org_a):
    client.force_login(alice)
    html = client.get(reverse("dashboard:kill_switch")).content.decode()
    assert "cancel orders only, positions stay open" in html
    response = client.post(reverse("dashboard:kill_switch"), {"action": "set_action", "kill_action": "flatten"})
    assert response.status_code == 302 and action_of(org_a) == "flatten"
    html = client.get(reverse("dashboard:kill_switch")).content.decode()
    assert "cancel orders and flatten every position" in html
    assert "Then every open position is closed with reduce-only market orders." in html
    response = client.post(reverse("dashboard:kill_switch"), {"action": "set_action", "kill_action": "sideways"})
    assert response.status_code == 302 and action_of(org_a) == "flatten"


def test_the_admin_sets_it_for_the_chosen_organizations(client, superuser, org_a, org_b):
    client.force_login(superuser)
    response = client.post(
        "/admin/organizations/organization/",
        {"action": "kill_switch_flattens", "_selected_action": [org_a.pk]},
    )
    assert response.status_code == 302
    assert (action_of(org_a), action_of(org_b)) == ("flatten", "cancel")
    assert "cancel + flatten" in client.get("/admin/organizations/organization/").content.decode()
