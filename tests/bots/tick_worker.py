"""A real Celery worker for the tick crash test: the scripted test strategy is registered, and
when TICK_KILL_STEP is set the process SIGKILLs itself the first time a tick of the bot
TICK_KILL_BOT reaches that placement step (a marker file makes it happen once)."""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from bots.orders import bot_id_from_client_order_id  # noqa: E402
from bots.signals import order_placement_step  # noqa: E402
from config.celery import app  # noqa: E402
from tests.bots import scripted  # noqa: E402

scripted.install()
STEP = os.environ.get("TICK_KILL_STEP")
BOT = int(os.environ.get("TICK_KILL_BOT", "0"))
MARKER = Path(os.environ.get("TICK_KILL_MARKER", "/nonexistent"))


def _die(sender, step: str, client_order_id: str, **kwargs) -> None:
    if step == STEP and bot_id_from_client_order_id(client_order_id) == BOT and not MARKER.exists():
        MARKER.write_text(f"{step} {client_order_id}\n")
        os.kill(os.getpid(), signal.SIGKILL)


if STEP:
    order_placement_step.connect(_die, weak=False)

if __name__ == "__main__":
    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            os.environ.get("TICK_QUEUE", "celery"),
        ]
    )
