"""The bot state machine: legal and illegal transitions, and races between processes."""

import threading

import pytest
from django.db import connection

from bots.errors import IllegalTransition, TransitionConflict
from bots.models import Bot, BotEvent
from bots.services import bot_transition
from bots.state import TRANSITIONS, BotStatus, can_transition
from tests.factories import BotFactory

ALL = list(BotStatus)
LEGAL = [(a, b) for a in ALL for b in ALL if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a in ALL for b in ALL if b not in TRANSITIONS[a]]


def test_the_table_matches_the_design():
    assert TRANSITIONS[BotStatus.STOPPED] == {BotStatus.STARTING, BotStatus.ERROR}
    assert TRANSITIONS[BotStatus.STARTING] == {BotStatus.RUNNING, BotStatus.STOPPING, BotStatus.ERROR}
    assert TRANSITIONS[BotStatus.RUNNING] == {BotStatus.DEGRADED, BotStatus.STOPPING, BotStatus.ERROR}
    assert TRANSITIONS[BotStatus.DEGRADED] == {BotStatus.RUNNING, BotStatus.STOPPING, BotStatus.ERROR}
    assert TRANSITIONS[BotStatus.STOPPING] == {BotStatus.STOPPED, BotStatus.ERROR}
    # Any state can fail.
    assert all(can_transition(s, BotStatus.ERROR) for s in ALL if s != BotStatus.ERROR)


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_it_applies_a_legal_transition_and_records_it(current, target):
    bot = BotFactory()
    Bot.objects.filter(pk=bot.pk).update(status=current)
    bot.refresh_from_db()

    bot_transition(bot=bot, target=target, reason="because")

    bot.refresh_from_db()
    assert bot.status == target
    assert bot.status_changed_at is not None
    event = BotEvent.objects.get(bot=bot)
    assert event.kind == f"bot.{target}"
    assert event.data == {"from": current, "to": target}
    if target == BotStatus.ERROR:
        assert bot.last_error == "because"


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_it_refuses_an_illegal_transition_and_writes_nothing(current, target):
    bot = BotFactory()
    Bot.objects.filter(pk=bot.pk).update(status=current)
    bot.refresh_from_db()

    with pytest.raises(IllegalTransition, match=f"cannot go from {current} to {target}"):
        bot_transition(bot=bot, target=target)

    bot.refresh_from_db()
    assert bot.status == current
    assert not BotEvent.objects.filter(bot=bot).exists()


@pytest.mark.django_db
def test_a_stale_copy_loses_to_the_database():
    bot = BotFactory()
    stale = Bot.objects.get(pk=bot.pk)
    bot_transition(bot=bot, target=BotStatus.STARTING)

    with pytest.raises(TransitionConflict, match="is now starting"):
        bot_transition(bot=stale, target=BotStatus.ERROR)
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STARTING


@pytest.mark.django_db(transaction=True)
def test_two_threads_racing_the_same_transition_cannot_both_win():
    assert connection.vendor == "postgresql"
    rounds = 25
    for _ in range(rounds):
        bot = BotFactory()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        lock = threading.Lock()

        def attempt(bot_id=bot.pk, barrier=barrier, outcomes=outcomes, lock=lock):
            try:
                mine = Bot.objects.get(pk=bot_id)
                barrier.wait(timeout=10)
                try:
                    bot_transition(bot=mine, target=BotStatus.STARTING)
                    result = "won"
                except TransitionConflict:
                    result = "lost"
                with lock:
                    outcomes.append(result)
            finally:
                connection.close()

        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

        assert sorted(outcomes) == ["lost", "won"]
        assert Bot.objects.get(pk=bot.pk).status == BotStatus.STARTING
        assert BotEvent.objects.filter(bot=bot, kind="bot.starting").count() == 1
