"""gunicorn settings: its own log lines as JSON, like the app's; the web
settings checked once in the master, before it binds the port or forks (a
web that cannot start says why in one line, and gunicorn stops); and
prometheus_client's multiprocess mode: one fresh metrics folder per gunicorn
master, a dead worker's files let go."""

import os
import shutil
import tempfile

from gunicorn.glogging import Logger

from infra import logs

# The master's own lines (and what reaches its stderr) are JSON from here on;
# its workers inherit this, and web.wsgi configures them again.
logs.configure("web")


class JsonLogger(Logger):
    """gunicorn's error log (boot, signals, worker restarts, errors) and
    access log (off unless ``--access-logfile`` is given) as JSON lines."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(logs.formatter())
                handler.addFilter(logs.WithContext())

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        status = atoms["s"]
        self.access_log.info(
            self.cfg.access_log_format, atoms,
            extra={
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO"),
                "status": int(status) if str(status).isdigit() else status,
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "remote_addr": environ.get("REMOTE_ADDR"),
            },
        )  # fmt: skip


logger_class = JsonLogger


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
