"""Exchange accounts: credentials are write-only and never come back in any response."""

import pytest

from exchanges.models import ExchangeAccount
from organizations.models import Role
from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

API_KEY, API_SECRET, PASSPHRASE = "AKIAREALKEY0001WXYZ", "s3cr3t-value-never-shown", "pass-phrase-hidden"


def test_secrets_never_appear_in_any_response(client_for, alice, make_key, org_a):
    client = client_for(alice)
    body = {
        "exchange": "okx",  # takes a passphrase as well
        "label": "Main",
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "passphrase": PASSPHRASE,
    }
    created = client.post("/api/v1/exchange-accounts/", body, format="json")
    assert created.status_code == 201, created.json()
    account = ExchangeAccount.objects.get(pk=created.json()["id"])
    assert (account.api_key, account.api_secret, account.passphrase) == (API_KEY, API_SECRET, PASSPHRASE)
    assert created.json()["masked_api_key"] == "••••WXYZ"
    bodies = [
        created,
        client.get("/api/v1/exchange-accounts/"),
        client.get(f"/api/v1/exchange-accounts/{account.pk}/"),
        client.patch(f"/api/v1/exchange-accounts/{account.pk}/", {"label": "Renamed"}, format="json"),
        client.put(f"/api/v1/exchange-accounts/{account.pk}/", {**body, "label": "Again"}, format="json"),
        client.post("/api/v1/exchange-accounts/", {**body, "exchange": "nope"}, format="json"),
        client.get("/api/v1/bots/"),
        client.get("/api/v1/members/"),
        client_for(key=make_key("read")[1]).get("/api/v1/exchange-accounts/"),
        client.get("/api/schema/"),
    ]
    for response in bodies:
        text = response.content.decode()
        for secret in (API_KEY, API_SECRET, PASSPHRASE):
            assert secret not in text, response.request["PATH_INFO"]
    events = "".join(e.message + str(e.data) for e in org_a.botevents.all())
    assert API_KEY not in events and API_SECRET not in events


def test_new_credentials_reset_verification_and_blank_ones_are_kept(client_for, alice, org_a):
    account = ExchangeAccount.objects.create(
        organization=org_a, exchange="binance", label="L", api_key=API_KEY, api_secret=API_SECRET, status="active"
    )
    client = client_for(alice)
    client.patch(f"/api/v1/exchange-accounts/{account.pk}/", {"api_key": "", "label": "L2"}, format="json")
    account.refresh_from_db()
    assert (account.api_key, account.status, account.label) == (API_KEY, "active", "L2")
    client.patch(f"/api/v1/exchange-accounts/{account.pk}/", {"api_secret": "new-secret-1234"}, format="json")
    account.refresh_from_db()
    assert (account.api_secret, account.status, account.last_verified_at) == ("new-secret-1234", "unverified", None)


def test_only_admins_add_accounts(client_for, member, make_key):
    body = {"exchange": "paper", "label": "Paper"}
    response = client_for(member(Role.TRADER)).post("/api/v1/exchange-accounts/", body)
    assert response.status_code == 403 and error_of(response)["code"] == "permission_denied"
    assert client_for(key=make_key("read", "trade")[1]).post("/api/v1/exchange-accounts/", body).status_code == 403
    created = client_for(key=make_key("admin")[1]).post("/api/v1/exchange-accounts/", body)
    assert created.status_code == 201


def test_a_member_of_two_organizations_must_choose(client_for, alice, org_b):
    from tests.factories import MembershipFactory

    MembershipFactory(user=alice, organization=org_b, role=Role.VIEWER)
    response = client_for(alice).post("/api/v1/exchange-accounts/", {"exchange": "paper", "label": "P"})
    assert response.status_code == 400 and error_of(response)["field"] == "organization"
    # A viewer in B cannot add an account there.
    response = client_for(alice).post(
        "/api/v1/exchange-accounts/", {"exchange": "paper", "label": "P", "organization": org_b.pk}
    )
    assert response.status_code == 403
