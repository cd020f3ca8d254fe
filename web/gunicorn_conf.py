"""gunicorn settings: the web settings checked once in the master, before
it binds the port or forks (a web that cannot start says why in one line,
and gunicorn stops); and prometheus_client's multiprocess mode, one fresh
metrics folder per gunicorn master, a dead worker's files let go."""

import os
import shutil
import tempfile


def on_starting(server):
    from web.wsgi import settings_or_exit

    settings_or_exit()
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="shop-metrics-")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
