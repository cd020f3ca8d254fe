"""gunicorn settings for prometheus_client's multiprocess mode: one fresh
metrics folder per gunicorn master, and a dead worker's files let go."""

import os
import shutil
import tempfile


def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="shop-metrics-")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
