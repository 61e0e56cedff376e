"""The live WebSocket end to end: the ASGI application, the real channels-redis layer, real
service calls on PostgreSQL. Each test drives its async part through async_to_sync, so the
service calls run on the test's own thread and database connection."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from bots.live import publish_on_commit
from bots.orders import order_place
from bots.services import bot_start, bot_stop
from config.asgi import application
from exchanges.gateway import Gateway
from organizations.models import Role
from tests.factories import ApiKeyFactory, BotFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")
WAIT = 5  # seconds: generous, the machine is shared
QUIET = 0.5


class Rollback(Exception):
    pass


def session_header(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode())


KEY_SECRET = "secret"  # what ApiKeyFactory hashes


def api_key_header(key, secret: str = KEY_SECRET) -> tuple[bytes, bytes]:
    return (b"authorization", f"Api-Key {key.prefix}.{secret}".encode())


def run(scenario, *args, **kwargs):
    """Run an async scenario from a sync test (service calls inside come back to this thread)."""
    return async_to_sync(scenario)(*args, **kwargs)


async def open_socket(*headers, path: str = "ws/live/") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected
    return communicator


async def refused_with(*headers, path: str = "ws/live/") -> int | None:
    """The close code of a connection the server refused: a refused handshake, or an accept
    followed at once by a close."""
    communicator = WebsocketCommunicator(application, path, headers=list(headers))
    connected, code = await communicator.connect(timeout=WAIT)
    if not connected:
        return code
    message = await communicator.receive_output(timeout=WAIT)
    assert message["type"] == "websocket.close"
    await communicator.disconnect(code=message["code"], timeout=WAIT)
    return message["code"]


async def frames_until(communicator, predicate, limit: int = 20) -> list[dict]:
    """Frames received until one satisfies `predicate` (that one included)."""
    seen = []
    for _ in range(limit):
        frame = json.loads(await communicator.receive_from(timeout=WAIT))
        seen.append(frame)
        if predicate(frame):
            return seen
    raise AssertionError(f"no matching frame in {seen}")


def bot_is(bot, status: str):
    return lambda f: f["kind"] == "bot" and f["bot"]["id"] == bot.pk and f["bot"]["status"] == status


@pytest.fixture
def bot_a(org_a):
    return BotFactory(organization=org_a, strategy="grid", params={"levels": 5})


@pytest.fixture
def bot_b(org_b):
    return BotFactory(organization=org_b, strategy="grid", params={"levels": 5})


def frames_of_a_start(user, bot) -> list[dict]:
    """What a socket signed in as `user` receives while `user` starts `bot`, up to its running frame."""
    session = session_header(user)

    async def scenario():
        socket = await open_socket(ORIGIN, session)
        await database_sync_to_async(bot_start)(bot=bot, user=user)
        frames = await frames_until(socket, bot_is(bot, "running"))
        await socket.disconnect()
        return frames

    return run(scenario)


def test_a_member_receives_the_status_change_of_a_service_call(alice, bot_a, org_a):
    frames = frames_of_a_start(alice, bot_a)
    bot_frame = frames[-1]
    assert bot_frame["organization"] == org_a.pk
    assert bot_frame["bot"] == {
        "id": bot_a.pk,
        "name": bot_a.name,
        "status": "running",
        "status_reason": "",
        "last_heartbeat_at": None,
        "tick_count": 0,
        "realized_pnl": "0",
    }
    events = [f["event"]["kind"] for f in frames if f["kind"] == "event"]
    assert events == ["bot.starting", "bot.running"]


def test_frames_go_straight_to_the_server_past_the_session_middleware(alice, bot_a, monkeypatch):
    """The session middleware's `send` looks at the session on every message; frames skip it
    (dashboard.routing.transport_send_kept), the handshake still goes through it."""
    from channels.sessions import InstanceSessionWrapper

    seen: list[str] = []
    wrapped = InstanceSessionWrapper.send

    async def spy(self, message):
        seen.append(message["type"])
        return await wrapped(self, message)

    monkeypatch.setattr(InstanceSessionWrapper, "send", spy)
    frames = frames_of_a_start(alice, bot_a)
    assert len(frames) >= 3  # events and the bot's status
    assert seen == ["websocket.accept"]


def test_a_client_of_another_org_receives_nothing_but_its_own(alice, bob, bot_a, bot_b):
    bob_session, alice_session = session_header(bob), session_header(alice)

    async def scenario():
        theirs = await open_socket(ORIGIN, bob_session)
        ours = await open_socket(ORIGIN, alice_session)
        await database_sync_to_async(bot_start)(bot=bot_a, user=alice)
        await frames_until(ours, bot_is(bot_a, "running"))
        assert await theirs.receive_nothing(timeout=QUIET)
        # The other client's channel works: its own organization's change arrives.
        await database_sync_to_async(bot_start)(bot=bot_b, user=bob)
        got = await frames_until(theirs, bot_is(bot_b, "running"))
        assert await ours.receive_nothing(timeout=QUIET)
        await theirs.disconnect()
        await ours.disconnect()
        return got

    got = run(scenario)
    assert {f["organization"] for f in got} == {bot_b.organization_id}


def test_orders_fills_and_positions_arrive_after_a_placement(paper):
    organization = paper.account.organization
    trader = UserFactory()
    MembershipFactory(user=trader, organization=organization, role=Role.VIEWER)
    bot = BotFactory(organization=organization, exchange_account=paper.account)

    def place():
        return order_place(
            account=paper.account,
            symbol="BTC/USDT",
            side="buy",
            type="market",
            amount=Decimal("0.1"),
            bot=bot,
            intent_key="live-1",
            gateway=Gateway(paper.account, paper),
        )

    session = session_header(trader)

    async def scenario():
        socket = await open_socket(ORIGIN, session)
        order = await database_sync_to_async(place)()
        frames = await frames_until(socket, lambda f: f["kind"] == "position")
        await socket.disconnect()
        return order, frames

    order, frames = run(scenario)
    by_kind = {}
    for f in frames:
        by_kind.setdefault(f["kind"], []).append(f[f["kind"]])
    # The order was saved (new) and then filled inside one call: one frame, as it ended up.
    assert [o["status"] for o in by_kind["order"]] == ["filled"]
    sent = by_kind["order"][0]
    assert sent["id"] == order.pk and sent["bot"] == bot.pk
    assert Decimal(sent["amount"]) == Decimal(sent["filled"]) == Decimal("0.1")
    assert sent["price"] is None and Decimal(sent["average"]) > 0
    (fill,) = by_kind["fill"]
    assert fill["order"] == order.pk and fill["side"] == "buy" and Decimal(fill["amount"]) == Decimal("0.1")
    assert isinstance(fill["price"], str) and isinstance(fill["fee"], str)
    (position,) = by_kind["position"]
    assert Decimal(position["quantity"]) == Decimal("0.1") and position["closed_at"] is None


def test_nothing_is_sent_before_commit_nor_after_a_rollback(alice, bot_a):
    def start_and_look_before_commit(socket):
        with transaction.atomic():
            bot_start(bot=bot_a, user=alice)
            quiet = async_to_sync(socket.receive_nothing)(QUIET)
        return quiet

    def stop_then_roll_back():
        try:
            with transaction.atomic():
                bot_stop(bot=bot_a, user=alice)
                raise Rollback
        except Rollback:
            pass

    session = session_header(alice)

    async def scenario():
        socket = await open_socket(ORIGIN, session)
        quiet_before_commit = await database_sync_to_async(start_and_look_before_commit)(socket)
        await frames_until(socket, bot_is(bot_a, "running"))
        await database_sync_to_async(stop_then_roll_back)()
        quiet_after_rollback = await socket.receive_nothing(timeout=QUIET)
        await socket.disconnect()
        return quiet_before_commit, quiet_after_rollback

    assert run(scenario) == (True, True)
    bot_a.refresh_from_db()
    assert bot_a.status == "running"


def test_an_anonymous_client_is_refused():
    assert run(refused_with, ORIGIN) == 4401


def test_a_foreign_origin_is_refused_even_when_signed_in(alice):
    session = session_header(alice)
    code = run(refused_with, (b"origin", b"https://evil.example"), session)
    assert code != 4401 and code is not None  # refused at the handshake, before authentication


def test_a_foreign_organization_asked_for_is_refused_and_an_own_one_narrows(alice, org_a, org_b, bot_a):
    other = BotFactory(organization=org_b)
    MembershipFactory(user=alice, organization=org_b, role=Role.VIEWER)
    foreign = OrganizationFactory()
    session = session_header(alice)

    async def scenario():
        code = await refused_with(ORIGIN, session, path=f"ws/live/?organization={foreign.pk}")
        narrowed = await open_socket(ORIGIN, session, path=f"ws/live/?organization={org_a.pk}")
        await database_sync_to_async(publish_twice)(org_b.pk, other.pk, org_a.pk, bot_a.pk)
        first = json.loads(await narrowed.receive_from(timeout=WAIT))
        quiet = await narrowed.receive_nothing(timeout=QUIET)
        await narrowed.disconnect()
        return code, first, quiet

    code, first, quiet = run(scenario)
    assert code == 4403
    assert first["organization"] == org_a.pk and quiet


def publish_twice(org_b_id, bot_b_id, org_a_id, bot_a_id):
    publish_on_commit(org_b_id, "hummingbot", instances=[], bots=[bot_b_id])
    publish_on_commit(org_a_id, "hummingbot", instances=[], bots=[bot_a_id])


def test_an_api_key_without_origin_streams_its_organization(org_a, bot_a, alice):
    key = ApiKeyFactory(organization=org_a, scopes=["read"])

    async def scenario():
        socket = await open_socket(api_key_header(key))
        await database_sync_to_async(publish_on_commit)(org_a.pk, "hummingbot", instances=[3], bots=[bot_a.pk])
        frame = json.loads(await socket.receive_from(timeout=WAIT))
        await socket.disconnect()
        return frame

    assert run(scenario) == {
        "kind": "hummingbot",
        "organization": org_a.pk,
        "hummingbot": {"instances": [3], "bots": [bot_a.pk]},
    }
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize(
    ("change", "secret"),
    [
        ({"revoked_at": timezone.now()}, "secret"),
        ({"expires_at": timezone.now() - dt.timedelta(minutes=1)}, "secret"),
        ({"scopes": ["trade"]}, "secret"),
        ({}, "wrong-secret"),
    ],
    ids=["revoked", "expired", "no-read-scope", "wrong-secret"],
)
def test_an_unusable_api_key_is_refused_even_with_a_session(org_a, alice, change, secret):
    key = ApiKeyFactory(organization=org_a, **({"scopes": ["read"]} | change))
    assert run(refused_with, api_key_header(key, secret)) == 4401
    # A session cookie does not rescue a bad key.
    session = session_header(alice)
    assert run(refused_with, ORIGIN, session, api_key_header(key, secret)) == 4401
