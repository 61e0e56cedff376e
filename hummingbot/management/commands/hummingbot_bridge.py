"""Run the Hummingbot bridge: listen to every instance over MQTT and write what they report."""

import signal
import threading

from django.core.management.base import BaseCommand

from hummingbot.bridge import Bridge
from hummingbot.wire import broker


class Command(BaseCommand):
    help = "Listen to Hummingbot instances over MQTT (heartbeats, events, fills, logs) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000, help="Most messages written per transaction.")
        parser.add_argument("--flush", type=float, default=0.1, help="Seconds to wait for a batch to fill.")

    def handle(self, *args, batch_size, flush, **options):
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        conf = broker()
        self.stdout.write(f"Hummingbot bridge on mqtt://{conf['host']}:{conf['port']} (Ctrl-C stops it)")
        bridge = Bridge(batch_size=batch_size, flush_seconds=flush)
        bridge.run(stop)
        self.stdout.write(f"Stopped after {bridge.stats['messages']} messages ({dict(bridge.stats)}).")
