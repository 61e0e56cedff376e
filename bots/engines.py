"""Execution engines: how a bot whose `execution` is not native comes up and goes down.

Native bots are run by bots itself (beat dispatches their ticks). Any other engine lives in an
app above bots (Hummingbot: `hummingbot.engine`) and registers itself here from its
`AppConfig.ready()`, so `bot_start` and `bot_stop` drive it without importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from core.errors import ApplicationError

if TYPE_CHECKING:
    from bots.models import Bot


class ExecutionEngine(Protocol):
    def start(self, *, bot: Bot) -> None:
        """Inside `bot_start`'s transaction, once the bot is starting: place the bot on the engine
        (or schedule that for after commit). The engine turns it running when it is up; raising
        ApplicationError refuses the start and rolls it back."""

    def stop(self, *, bot: Bot, cancel_orders: bool) -> None:
        """After `bot_stop` committed the bot as stopping: take it down. The engine turns it
        stopped when it is down (at once if nothing was running)."""


_engines: dict[str, ExecutionEngine] = {}


def engine_register(execution: str, engine: ExecutionEngine) -> None:
    """Make `engine` the one that runs bots whose `execution` is `execution`."""
    _engines[execution] = engine


def engine_for(execution: str) -> ExecutionEngine:
    """The engine of a non-native execution; a clear error when its app is not installed."""
    try:
        return _engines[execution]
    except KeyError:
        raise ApplicationError(
            f"No execution engine for '{execution}' is installed on this platform.", field="execution"
        ) from None
