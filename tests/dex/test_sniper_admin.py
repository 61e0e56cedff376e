"""The sniper admin: the add form creates a paper sniper through sniper_create (refusals on the
field they name), "Run now" reports the run, switching off is audited, and a staff member sees
only their organizations' snipers and tokens."""

import pytest

from bots.models import BotEvent
from dex.models import Sniper
from tests.factories import DexAccountFactory, GatewayConnectionFactory, SniperFactory, SnipeTokenFactory

pytestmark = pytest.mark.django_db
ADD = "/admin/dex/sniper/add/"


def form(account, **values) -> dict:
    return {
        "account": account.pk,
        "name": "launches",
        "source_url": "http://127.0.0.1:9/feed",
        "quote_token": "SOL",
        "min_liquidity_usd": "20000",
        "blacklist": "RUG, Cre8or1111111111111111111111111111",
        "refuse_mint_authority": "on",
        "refuse_freeze_authority": "on",
        "max_top_holders_pct": "40",
        "risk_pct": "2",
        "max_position_quote": "0.5",
        "max_open": "2",
        "take_profit_pct": "80",
        "stop_loss_pct": "25",
    } | values


def test_the_add_form_creates_a_paper_sniper_and_refuses_bad_rules(client, scoped_staff, org_a):
    account = DexAccountFactory(connection=GatewayConnectionFactory(organization=org_a))
    client.force_login(scoped_staff)
    refused = client.post(ADD, form(account, stop_loss_pct="100"))
    assert refused.status_code == 200 and "stop_loss_pct" in refused.context["adminform"].form.errors
    live = client.post(ADD, form(account, live="on"))
    assert "live DEX account" in str(live.context["adminform"].form.errors)
    assert not Sniper.objects.exists()
    made = client.post(ADD, form(account))
    assert made.status_code == 302
    sniper = Sniper.objects.get()
    assert (sniper.live, sniper.blacklist, sniper.max_open) == (False, ["RUG", "Cre8or1111111111111111111111111111"], 2)
    assert BotEvent.objects.get(kind="sniper.created").source == "admin"


def test_run_now_switch_off_and_scoping(client, scoped_staff, org_a, org_b):
    ours = SniperFactory(account=DexAccountFactory(connection=GatewayConnectionFactory(organization=org_a)))
    theirs = SniperFactory(account=DexAccountFactory(connection=GatewayConnectionFactory(organization=org_b)))
    SnipeTokenFactory(sniper=theirs, symbol="THEIRS")
    client.force_login(scoped_staff)
    listing = client.get("/admin/dex/sniper/").content.decode()
    assert ours.name in listing and theirs.name not in listing
    assert "THEIRS" not in client.get("/admin/dex/snipetoken/").content.decode()
    ran = client.post(
        "/admin/dex/sniper/", {"action": "run_now", "_selected_action": [ours.pk]}, follow=True
    ).content.decode()
    assert "the source could not be read" in ran  # nothing listens on port 9
    client.post("/admin/dex/sniper/", {"action": "disable", "_selected_action": [ours.pk]})
    assert Sniper.objects.get(pk=ours.pk).enabled is False
    assert BotEvent.objects.filter(kind="sniper.switched", source="admin").exists()
