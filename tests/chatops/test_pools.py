"""What waits on an exchange (a live account's /balance) runs on the outside threads: a slow
exchange holds none of the other chats, which are answered from the database thread meanwhile."""

import threading
from decimal import Decimal

import pytest

from chatops import commands
from chatops.services import link_claim, link_code_create
from exchanges.types import Balance
from organizations.models import Role
from tests.factories import ExchangeAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)
SLOW, QUICK = 6100, 6101


def test_a_slow_exchange_holds_no_other_chat(running_bot, botapi, member, org_a, monkeypatch):
    for chat in (SLOW, QUICK):
        link_claim(code=link_code_create(user=member(Role.VIEWER))[0], chat_id=chat)
    exchange_answers, asked = threading.Event(), threading.Event()

    ExchangeAccountFactory(organization=org_a, exchange="binance", label="Main", status="active")

    def slow_exchange(account):
        asked.set()
        assert exchange_answers.wait(15), "the exchange never answered"
        return [Balance("BTC", Decimal("1"), Decimal("0"))]

    monkeypatch.setattr(commands, "balance_fetch", slow_exchange)
    botapi.send_text(SLOW, "/balance")
    assert asked.wait(10), "the exchange was not asked"
    botapi.send_text(QUICK, "/status")
    botapi.send_text(QUICK, "/help")
    quick = botapi.wait_sent(QUICK, 2, timeout=10)
    assert botapi.wait_sent(SLOW, 0) == []  # still waiting on its exchange
    assert sorted(r.text.split()[0] for r in quick) == ["Alpha", "Commands:"]  # the status and the help
    exchange_answers.set()
    assert botapi.wait_sent(SLOW, 1, timeout=10)[0].text == "Balances:\nMain (binance)\n  BTC 1"
