"""The bot over several processes (chatops.shards): a poller in the test process, forked worker
processes running the real Application, the loopback Bot API server between them."""

import os
import signal
import threading
import time

import pytest
from django.core.management import CommandError, call_command

from chatops.services import link_claim, link_code_create
from chatops.shards import ApiRefused, ShardedPoller, chat_of
from organizations.models import Role
from tests.chatops.conftest import TOKEN

pytestmark = pytest.mark.django_db(transaction=True)
CHATS = [7100, 7101, 7102, 7103]  # even ones to worker 0, odd ones to worker 1


class RunningPoller:
    def __init__(self, api, *, workers: int = 2, per_minute: int = 1000, token: str = TOKEN) -> None:
        self.poller = ShardedPoller(
            workers=workers, token=token, base_url=api.base_url, per_minute=per_minute, poll_timeout=1
        )
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.poller.run()
        except Exception as exc:
            self.error = exc

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.poller.stop()
        self.thread.join(40)
        assert not self.thread.is_alive(), "the poller did not stop"


def link(user, chat):
    return link_claim(code=link_code_create(user=user)[0], chat_id=chat)


def test_chat_of_reads_the_chat_of_messages_and_buttons():
    assert chat_of({"update_id": 1, "message": {"chat": {"id": 42}}}) == 42
    assert chat_of({"update_id": 2, "callback_query": {"from": {"id": 7}, "message": {"chat": {"id": 43}}}}) == 43
    assert chat_of({"update_id": 3, "callback_query": {"from": {"id": 7}}}) == 7  # an inline message: its sender
    assert chat_of({"update_id": 4, "poll": {}}) == 0
    assert chat_of({"update_id": 5, "message": {"chat": {"id": "not a number"}}}) == 0


def test_every_chat_is_answered_by_its_worker(botapi, member, org_a):
    for chat in CHATS:
        link(member(Role.VIEWER), chat)
    with RunningPoller(botapi) as running:
        for chat in CHATS:
            botapi.send_text(chat, "/help")
            botapi.send_text(chat, "/status")
            botapi.send_text(chat, "/bot nothing-like-this")
        for chat in CHATS:
            # Handled at once (concurrent updates, as in one process): in any order.
            replies = sorted(r.text for r in botapi.wait_sent(chat, 3, timeout=30))
            assert replies[0].startswith(f"{org_a.name} (you: viewer)")
            assert replies[1].startswith("Commands:")
            assert replies[2].startswith("No bot 'nothing-like-this' in this organization")
        pids = {worker.process.pid for worker in running.poller.workers}
        assert len(pids) == 2 and os.getpid() not in pids
    assert running.error is None
    # Stopping confirmed every update handed over: Telegram (the server) forgot them.
    assert botapi.updates == []
    assert all(not worker.alive() for worker in running.poller.workers)


def test_a_chat_is_rate_limited_in_one_place(botapi, member):
    link(member(Role.VIEWER), CHATS[0])
    with RunningPoller(botapi, per_minute=3):
        for _ in range(6):
            botapi.send_text(CHATS[0], "/help")
        replies = botapi.wait_sent(CHATS[0], 4, timeout=30)
        time.sleep(1)  # nothing more comes
        replies = botapi.wait_sent(CHATS[0], 4)
    # Three answered and one warning (handled at once, in any order); shared between two workers
    # the chat would have had six answers.
    assert sorted(r.text.split()[0] for r in replies) == ["Commands:"] * 3 + ["Too"]


def test_a_dead_worker_is_started_again(botapi, member):
    link(member(Role.VIEWER), CHATS[0])
    with RunningPoller(botapi) as running:
        botapi.send_text(CHATS[0], "/help")
        botapi.wait_sent(CHATS[0], 1, timeout=30)
        worker = running.poller.workers[0]
        first = worker.process.pid
        os.kill(first, signal.SIGKILL)
        worker.process.join(10)
        botapi.send_text(CHATS[0], "/status")
        assert "Kill switch: released" in botapi.wait_sent(CHATS[0], 2, timeout=30)[1].text
        assert worker.starts == 2 and worker.process.pid != first


def test_a_refused_token_stops_the_poller_and_its_workers(botapi):
    with RunningPoller(botapi, token="999:wrong") as running:
        running.thread.join(30)
    assert isinstance(running.error, ApiRefused) and running.error.code == 401
    assert "999:wrong" not in str(running.error)
    assert all(not worker.alive() for worker in running.poller.workers)


def test_the_command_refuses_no_workers(settings):
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    with pytest.raises(CommandError, match="at least 1"):
        call_command("telegram_bot", "--workers", "0")
