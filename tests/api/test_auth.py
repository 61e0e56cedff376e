"""Session and API key authentication, scopes, and the one error shape."""

import datetime as dt

import pytest
from django.utils import timezone

from organizations.models import ApiKey
from organizations.services import api_key_revoke
from tests.api.conftest import error_of
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db


def test_it_lists_own_bots_for_a_session_user(client_for, alice, org_a, org_b):
    mine, _ = BotFactory(organization=org_a), BotFactory(organization=org_b)
    response = client_for(alice).get("/api/v1/bots/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


def test_it_refuses_anonymous_requests_with_401(client_for, db):
    response = client_for().get("/api/v1/bots/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert error_of(response)["code"] == "not_authenticated"


def test_it_accepts_a_valid_key_for_its_organization_only(client_for, make_key, org_a, org_b):
    mine, _ = BotFactory(organization=org_a), BotFactory(organization=org_b)
    key, full = make_key("read")
    response = client_for(key=full).get("/api/v1/bots/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_it_updates_last_used_at_at_most_once_a_minute(client_for, make_key, django_assert_num_queries):
    key, full = make_key("read")
    client = client_for(key=full)
    client.get("/api/v1/strategies/")
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    # Key lookup only: no UPDATE within the minute.
    with django_assert_num_queries(1):
        client.get("/api/v1/strategies/")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    with django_assert_num_queries(2):
        client.get("/api/v1/strategies/")
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda full: full.split(".")[0] + ".wrong-secret", id="wrong-secret"),
        pytest.param(lambda full: "ffffffff." + full.split(".")[1], id="unknown-prefix"),
        pytest.param(lambda full: full.replace(".", ""), id="malformed"),
    ],
)
def test_it_rejects_a_bad_key_with_401(client_for, make_key, mangle):
    _, full = make_key("read")
    response = client_for(key=mangle(full)).get("/api/v1/bots/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_it_rejects_a_revoked_key(client_for, make_key):
    key, full = make_key("read")
    api_key_revoke(api_key=key)
    response = client_for(key=full).get("/api/v1/bots/")
    assert response.status_code == 401
    assert error_of(response)["message"] == "This API key has been revoked."


def test_it_rejects_an_expired_key(client_for, make_key):
    key, full = make_key("read", expires_at=timezone.now() + dt.timedelta(hours=1))
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client_for(key=full).get("/api/v1/bots/")
    assert response.status_code == 401
    assert error_of(response)["message"] == "This API key has expired."


def test_a_key_without_read_scope_cannot_read(client_for, make_key):
    _, full = make_key("trade")
    response = client_for(key=full).get("/api/v1/bots/")
    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


def test_a_read_key_cannot_start_a_bot_and_a_trade_key_can(client_for, make_key, org_a):
    bot = BotFactory(organization=org_a)
    _, read_only = make_key("read")
    response = client_for(key=read_only).post(f"/api/v1/bots/{bot.pk}/start/")
    assert response.status_code == 403
    assert error_of(response) == {
        "code": "permission_denied",
        "message": "Starting a bot needs an API key with the trade scope.",
        "field": None,
    }
    key, trade = make_key("read", "trade")
    response = client_for(key=trade).post(f"/api/v1/bots/{bot.pk}/start/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "running"
    # The service ran as the system; the key is on record.
    assert bot.events.filter(kind="api.bot_start", data__api_key=key.prefix).exists()


def test_a_trade_key_cannot_engage_the_kill_switch(client_for, make_key, org_a):
    _, trade = make_key("read", "trade")
    response = client_for(key=trade).post(f"/api/v1/kill-switch/{org_a.pk}/engage/", {"reason": "x"})
    assert response.status_code == 403
    _, admin = make_key("admin")
    response = client_for(key=admin).post(f"/api/v1/kill-switch/{org_a.pk}/engage/", {"reason": "drill"})
    assert response.status_code == 200
    assert response.json()["engaged"] is True


def test_errors_share_one_shape(client_for, alice, org_a):
    client = client_for(alice)
    invalid = client.post("/api/v1/bots/", {"name": "x"}, format="json")
    assert invalid.status_code == 400
    assert error_of(invalid)["field"] in {"strategy", "exchange_account", "symbol"}
    missing = client.get("/api/v1/bots/999999/")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    unknown_path = client.get("/api/v1/no-such-thing/")
    assert unknown_path.status_code == 404 and error_of(unknown_path)["code"] == "not_found"
    not_allowed = client.delete(f"/api/v1/bots/{BotFactory(organization=org_a).pk}/")
    assert not_allowed.status_code == 405 and error_of(not_allowed)["code"] == "method_not_allowed"
