"""What the web process's request threads need to know of its life, set by
gunicorn's worker (web.gunicorn_worker).  Kept free of imports: gunicorn's
arbiter imports the worker class before web.gunicorn_conf has prepared the
metrics' multiprocess directory, and what it imports then must not load
prometheus_client."""

from __future__ import annotations

import threading

#: Set when the process is told to stop: open event streams (web.stories)
#: close within their next wait (2 s at most), so that a graceful shutdown
#: does not wait for them.
STOPPING = threading.Event()
