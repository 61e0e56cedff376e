"""Sign-in attempts are limited per username and per address, on the dashboard and in admin, with
the counters in the real Redis cache."""

import time
import uuid

import pytest
from django.contrib.auth.signals import user_logged_in

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def redis_cache(settings):
    # A key prefix of its own: nothing else's counters are read, and no flush is needed.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"test-login-{uuid.uuid4().hex}",
        }
    }
    settings.LOGIN_RATE_LIMIT_ATTEMPTS = 5
    settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS = 900


@pytest.fixture
def logins():
    seen = []

    def record(sender, user, **kwargs):
        seen.append(user.username)

    user_logged_in.connect(record)
    yield seen
    user_logged_in.disconnect(record)


def attempt(client, path, username, password, ip="10.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_it_refuses_the_right_password_after_five_failures(client, logins):
    UserFactory(username="carol")
    for _ in range(5):
        assert attempt(client, "/login/", "carol", "wrong").status_code == 200
    blocked = attempt(client, "/login/", "carol", "pw")
    assert blocked.status_code == 429
    assert "Too many attempts, try again in 15 minutes." in blocked.content.decode()
    assert logins == [] and "_auth_user_id" not in client.session


def test_the_limit_holds_per_username_across_addresses(client):
    UserFactory(username="carol")
    for n in range(5):
        attempt(client, "/login/", "Carol", "wrong", ip=f"10.0.1.{n}")
    assert attempt(client, "/login/", "carol", "pw", ip="10.0.9.9").status_code == 429


def test_the_limit_holds_per_address_across_usernames(client, logins):
    UserFactory(username="dave")
    for n in range(5):
        attempt(client, "/login/", f"guess{n}", "wrong", ip="10.0.2.1")
    assert attempt(client, "/login/", "dave", "pw", ip="10.0.2.1").status_code == 429
    ok = attempt(client, "/login/", "dave", "pw", ip="10.0.2.2")
    assert ok.status_code == 302 and logins == ["dave"]


def test_a_success_resets_the_count(client, logins):
    UserFactory(username="erin")
    for _ in range(4):
        attempt(client, "/login/", "erin", "wrong")
    assert attempt(client, "/login/", "erin", "pw").status_code == 302
    client.logout()
    for _ in range(4):
        assert attempt(client, "/login/", "erin", "wrong").status_code == 200
    assert attempt(client, "/login/", "erin", "pw").status_code == 302
    assert logins == ["erin", "erin"]


def test_attempts_are_allowed_again_after_the_window(client, settings, logins):
    settings.LOGIN_RATE_LIMIT_WINDOW_SECONDS = 1
    UserFactory(username="frank")
    for _ in range(5):
        attempt(client, "/login/", "frank", "wrong")
    assert attempt(client, "/login/", "frank", "pw").status_code == 429
    time.sleep(1.2)
    assert attempt(client, "/login/", "frank", "pw").status_code == 302
    assert logins == ["frank"]


def test_the_admin_login_is_limited_too(client, logins):
    UserFactory(username="staffer", is_staff=True)
    for _ in range(5):
        response = attempt(client, "/admin/login/", "staffer", "wrong")
        assert response.status_code == 200 and "Please enter the correct username" in response.content.decode()
    blocked = attempt(client, "/admin/login/", "staffer", "pw")
    assert blocked.status_code == 429
    assert "Too many attempts, try again in 15 minutes." in blocked.content.decode()
    assert logins == []
    # The dashboard shares the counters: the same username is refused there as well.
    assert attempt(client, "/login/", "staffer", "pw").status_code == 429
