"""The Celery app: the distributed engine for ticks, deployments and periodic work."""

import os

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _ensure_broker_folder(sender: Celery, **kwargs) -> None:
    # The serverless development broker keeps its queue in a folder that must exist first.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


@worker_process_shutdown.connect
def _prometheus_mark_process_dead(pid: int | None = None, **kwargs) -> None:
    # In multiprocess mode each pool process keeps its metrics in files named by its pid; a live
    # gauge of a process that exited must stop counting.
    from django.conf import settings

    if settings.PROMETHEUS_MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid(), path=settings.PROMETHEUS_MULTIPROC_DIR)
