"""gunicorn's gthread worker, answering the requests gunicorn refuses
itself for their size as problem+json (the Procfile's ``--worker-class``),
and ending open event streams (web.stories) when it is told to stop.

gunicorn writes these answers as HTML before any application sees the
request; every other answer of this service is RFC 9457 JSON, so a client
reads one format whatever refused it."""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker

from web import lifecycle
from web.problems import PROBLEM_JSON


def refusal(exc: BaseException, cfg) -> bytes | None:
    """The whole HTTP answer to a request over one of gunicorn's limits, or
    None for an error this module leaves to gunicorn."""
    if isinstance(exc, LimitRequestLine):
        status, title = 414, "URI Too Long"
        detail = f"the request line is over {cfg.limit_request_line} bytes"
    elif isinstance(exc, LimitRequestHeaders):
        status, title = 431, "Request Header Fields Too Large"
        detail = (
            f"send at most {cfg.limit_request_fields} header fields, "
            f"each at most {cfg.limit_request_field_size} bytes"
        )
    else:
        return None
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class Worker(ThreadWorker):
    def handle_exit(self, sig, frame):
        # Open event streams end now: they would hold the graceful
        # shutdown for its whole timeout (clients reconnect elsewhere).
        lifecycle.STOPPING.set()
        super().handle_exit(sig, frame)

    def handle_error(self, req, client, addr, exc):
        answer = refusal(exc, self.cfg)
        if answer is None:
            return super().handle_error(req, client, addr, exc)
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            util.write_nonblock(client, answer)
        except OSError:
            self.log.debug("Failed to send error message.")
