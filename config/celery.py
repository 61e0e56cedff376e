"""The Celery app: the distributed engine for ticks, deployments and periodic work."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["bots.hummingbot"])  # a sub-package: not found by the default scan


@app.on_after_configure.connect
def _ensure_broker_folder(sender: Celery, **kwargs) -> None:
    # The serverless development broker keeps its queue in a folder that must exist first.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)
