"""The customer home page shows the user's organizations' bots only."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import BotFactory


def test_it_needs_a_login(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_it_rejects_other_org_bots(client, alice, org_a, org_b):
    BotFactory(organization=org_a, name="alpha-visible")
    BotFactory(organization=org_b, name="beta-hidden")
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "alpha-visible" in html
    assert "beta-hidden" not in html


def test_it_renders_in_a_bounded_number_of_queries(client, alice, org_a):
    client.force_login(alice)
    BotFactory(organization=org_a)
    with CaptureQueriesContext(connection) as few:
        client.get("/")
    for _ in range(10):
        BotFactory(organization=org_a)
    with CaptureQueriesContext(connection) as many:
        client.get("/")
    assert len(many.captured_queries) == len(few.captured_queries)


def test_health_answers(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
