"""What a client following a command live (``GET /commands/{id}/events``)
costs, and how many the Procfile's defaults serve at once.

The Procfile's web (two processes, default threads and waiting slots) and
projector run without a worker, so every story stays open after its
acceptance.  Then, in the same run:

- ``--streams`` clients open a stream each (more than the defaults'
  slots, to find the limit): how many are served, how many answered 503;
- web's threads and memory (RSS of its process tree), and Redis's
  subscriptions and connections, with none and with all streams open;
- a ``/health`` round trip, median of 50, with none and with all open;
- then a worker starts: how long until every open stream has its end, and
  what a story keeps in Redis once ended (``MEMORY USAGE``).

    .venv/bin/python -m bench.streams [--streams 120]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests

from bench.stack import Stack, embedded, release
from infra.keys import Keys
from infra.redisclient import connect_redis
from infra.settings import Settings


def health_ms(url: str, times: int = 50) -> float:
    taken = []
    for _ in range(times):
        started = time.perf_counter()
        requests.get(url + "/health", timeout=5).raise_for_status()
        taken.append((time.perf_counter() - started) * 1000)
    return statistics.median(taken)


def web_threads(stack: Stack) -> int:
    return sum(process.num_threads() for process in stack.tree("web"))


def redis_state(client: redis.Redis, keys: Keys) -> dict[str, int]:
    return {
        "clients": client.info("clients")["connected_clients"],
        "subscribers_of_signals": client.pubsub_numsub(keys.signals)[0][1],
    }


def lines(response: requests.Response):
    """One line reader per response (each keeps what it read ahead)."""
    if not hasattr(response, "lines"):
        response.lines = response.iter_lines(decode_unicode=True)
    return response.lines


def first_event(response: requests.Response) -> str | None:
    for line in lines(response):
        if line.startswith("event: "):
            return line.removeprefix("event: ")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, embedded(Path(tmp)) as env:
        release(env)
        stack = Stack(env, Path(tmp), "streams", names=("web", "projector"))
        client = connect_redis(Settings.from_env(env))
        keys = Keys(env["REDIS_NAMESPACE"])
        streams: list[requests.Response] = []
        try:
            stack.wait_until_serving()
            commands = []
            for _ in range(args.streams):
                body = {
                    "sku": f"S-{uuid.uuid4().hex[:10]}",
                    "name": "Cup",
                    "price_cents": 100,
                    "currency": "EUR",
                }
                commands.append(
                    requests.post(stack.url + "/products", json=body, timeout=10).json()["command_id"]
                )
            time.sleep(1)
            before = {
                "web_threads": web_threads(stack),
                "web_rss_mb": stack.rss_bytes("web") / 2**20,
                **redis_state(client, keys),
                "health_ms": health_ms(stack.url),
            }

            def open_stream(command_id: str) -> requests.Response:
                return requests.get(f"{stack.url}/commands/{command_id}/events", stream=True, timeout=30)

            with ThreadPoolExecutor(32) as pool:
                answers = list(pool.map(open_stream, commands))
            streams = [a for a in answers if a.status_code == 200]
            refused = [a for a in answers if a.status_code == 503]
            for answer in refused:
                answer.close()
            with ThreadPoolExecutor(32) as pool:
                firsts = list(pool.map(first_event, streams))
            assert all(event == "accepted" for event in firsts), firsts
            served = len(streams)
            time.sleep(1)
            during = {
                "web_threads": web_threads(stack),
                "web_rss_mb": stack.rss_bytes("web") / 2**20,
                **redis_state(client, keys),
                "health_ms": health_ms(stack.url),
            }
            started = time.monotonic()
            stack.processes["worker"] = Stack(env, Path(tmp), "streams-worker", names=("worker",)).processes[
                "worker"
            ]

            def rest(response: requests.Response) -> bool:
                return any(line == "event: end" for line in lines(response))

            with ThreadPoolExecutor(32) as pool:
                ended = sum(pool.map(rest, streams))
            to_end_s = time.monotonic() - started
            story_bytes = [client.memory_usage(keys.story(c)) or 0 for c in commands]
            state_bytes = [client.memory_usage(keys.story_state(c)) or 0 for c in commands]
            status_bytes = [client.memory_usage(keys.command(c)) or 0 for c in commands]
        finally:
            for response in streams:
                response.close()
            stack.stop()
            client.close()

    print(
        f"streams asked {args.streams}: served {served}, refused 503 {len(refused)}; ended {ended} "
        f"in {to_end_s:.1f} s once a worker ran"
    )
    print(f"{'':24} {'none open':>12} {f'{served} open':>12}  per stream")
    for name in before:
        per = (during[name] - before[name]) / served if served else 0
        print(f"{name:24} {before[name]:12.1f} {during[name]:12.1f}  {per:+.3f}")
    print(f"health median ratio (open / none): {during['health_ms'] / before['health_ms']:.2f}")
    print(
        f"a create's story in Redis once ended: stream {statistics.median(story_bytes):.0f} B, "
        f"state {statistics.median(state_bytes):.0f} B; "
        f"its status {statistics.median(status_bytes):.0f} B (medians)"
    )


if __name__ == "__main__":
    main()
