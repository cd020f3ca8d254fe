"""The launcher's checks: a port already taken, and ``/health`` polled
with a deadline."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from infra.embedded import free_port
from infra.local import answers, taken


class Healthy(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_port_someone_listens_on_is_taken():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert taken(port)
    assert not taken(port)


def test_health_is_polled_until_it_answers():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        assert answers(f"{url}/health", within_s=5)
        assert not answers(f"{url}/elsewhere", within_s=0.3)
    finally:
        server.shutdown()
        server.server_close()


def test_polling_gives_up_at_its_deadline_or_when_told():
    url = f"http://127.0.0.1:{free_port()}/health"  # nothing listens there
    started = time.monotonic()
    assert not answers(url, within_s=0.5)
    assert 0.5 <= time.monotonic() - started < 3
    started = time.monotonic()
    assert not answers(url, within_s=60, unless=lambda: True)
    assert time.monotonic() - started < 1
