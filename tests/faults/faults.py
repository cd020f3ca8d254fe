"""Faults at seeded random moments: workers and projectors killed with
SIGKILL (and started again by the supervisor, as a platform would), Redis
restarted gracefully and with SIGKILL, the store killed, a worker paused
past its heartbeat, and commands and notifications delivered twice and
out of order on purpose."""

from __future__ import annotations

import random
import shutil
import threading
import time
from dataclasses import dataclass, field

import dramatiq
import pymongo.errors
import redis

from infra.broker import build_broker
from infra.commits import Commit
from infra.eventstore import COMMITS, COMMITS_ONLY
from infra.messages import COMMANDS_QUEUE, notification_message
from infra.mongo import connect
from infra.redisclient import connect_redis
from tests.faults.cluster import Cluster


@dataclass
class FaultLog:
    done: list[tuple[float, str]] = field(default_factory=list)  # (time.time(), what)
    redis_kills: list[float] = field(default_factory=list)
    redelivery_s: list[float] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # a server was down: the fault could not be made
    broken: list[str] = field(default_factory=list)  # the fault itself failed: the run proves less

    @property
    def last_at(self) -> float:
        return max((at for at, _ in self.done), default=time.time())


#: fault -> how many times in a short run; a long run repeats the plan.
PLAN = {
    "kill worker": 3,
    "kill projector": 2,
    "restart redis": 1,
    "kill redis": 1,
    "kill store": 1,
    "pause worker": 1,
    "duplicate commands": 2,
    "replay notifications": 2,
}


class Faults:
    def __init__(self, cluster: Cluster, *, seed: int, heartbeat_s: float):
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.heartbeat_s = heartbeat_s
        self.log = FaultLog()
        self._tapped: list[dramatiq.Message] = []
        self._stop = threading.Event()

    def schedule(self, seconds: float, rounds: int = 1) -> list[tuple[float, str]]:
        kinds = [kind for kind, n in PLAN.items() for _ in range(n * rounds)]
        times = sorted(self.rng.uniform(0.1 * seconds, 0.85 * seconds) for _ in kinds)
        self.rng.shuffle(kinds)
        return list(zip(times, kinds, strict=True))

    def run(self, seconds: float, rounds: int = 1) -> None:
        started = time.monotonic()
        tap = threading.Thread(target=self._tap, name="tap", daemon=True)
        tap.start()
        for at, kind in self.schedule(seconds, rounds):
            delay = at - (time.monotonic() - started)
            if delay > 0:
                time.sleep(delay)
            self.apply(kind)
        self._stop.set()
        tap.join(5)

    def apply(self, kind: str) -> None:
        cluster, rng = self.cluster, self.rng
        if kind == "kill worker":
            held = self._held()
            if cluster.kill_a_worker_process("worker", rng) is not None:
                threading.Thread(
                    target=self._time_redelivery, args=(held, time.monotonic()), daemon=True
                ).start()
        elif kind == "kill projector":
            cluster.kill_a_worker_process("projector", rng)
        elif kind == "restart redis":
            cluster.redis.stop()
            time.sleep(1.0)
            cluster.redis.start()
        elif kind == "kill redis":
            self._kill_redis_losing_its_last_second()
        elif kind == "kill store":
            if cluster.mongo is None:
                self.log.skipped.append("kill store: MONGODB_URI points at a store this suite did not start")
                return
            cluster.mongo.kill()
            time.sleep(1.0)
            cluster.mongo.start()
        elif kind == "pause worker":
            cluster.pause_a_worker_process("worker", self.heartbeat_s + 3, rng)
        elif kind == "duplicate commands":
            self._duplicate_commands()
        elif kind == "replay notifications":
            self._replay_notifications()
        self.log.done.append((time.time(), kind))

    def _kill_redis_losing_its_last_second(self) -> None:
        """SIGKILL Redis, and start it again from its append-only file as it
        was a second before: what ``appendfsync everysec`` may lose when the
        machine goes down with it (killing the process alone loses nothing,
        the file is written before each reply)."""
        files = self.cluster.root / "redis" / "appendonlydir"
        earlier = self.cluster.root / "redis-a-second-before"
        shutil.rmtree(earlier, ignore_errors=True)
        shutil.copytree(files, earlier)
        time.sleep(1.0)
        self.log.redis_kills.append(time.time())
        self.cluster.redis.kill()
        shutil.rmtree(files)
        shutil.copytree(earlier, files)
        time.sleep(0.5)
        self.cluster.redis.start()

    # --- deliveries twice and out of order -------------------------------------------

    def _client(self) -> redis.Redis:
        return connect_redis(self.cluster.settings, socket_timeout=2)

    def _tap(self) -> None:
        """Copy some commands off the queue as they wait, to deliver them
        again later (after they ran: out of order)."""
        ns = self.cluster.settings.redis_namespace
        while not self._stop.wait(0.5) and len(self._tapped) < 200:
            try:
                client = self._client()
                ids = client.lrange(f"{ns}:{COMMANDS_QUEUE}", 0, 10)
                if ids:
                    for raw in client.hmget(f"{ns}:{COMMANDS_QUEUE}.msgs", ids):
                        if raw:
                            self._tapped.append(dramatiq.Message.decode(raw))
                client.close()
            except redis.RedisError:
                continue

    def _duplicate_commands(self) -> None:
        if not self._tapped:
            self.log.skipped.append("duplicate commands: none tapped yet")
            return
        broker = build_broker(self.cluster.settings)
        try:
            for message in self.rng.sample(self._tapped, k=min(15, len(self._tapped))):
                options = {k: v for k, v in message.options.items() if k != "redis_message_id"}
                copy = dramatiq.Message(
                    queue_name=message.queue_name, actor_name=message.actor_name, args=message.args,
                    kwargs=message.kwargs, options=options,
                )  # fmt: skip
                broker.enqueue(copy, delay=self.rng.randint(0, 3000))
        except redis.RedisError:
            self.log.skipped.append("duplicate commands: Redis was down")
        finally:
            broker.close()

    def _replay_notifications(self) -> None:
        db = connect(self.cluster.settings, appname="faults", serverSelectionTimeoutMS=3000)
        broker = build_broker(self.cluster.settings)
        try:
            # Commits only: the command decisions kept beside them announce nothing.
            docs = list(db[COMMITS].find(COMMITS_ONLY, limit=1000))
            for doc in self.rng.sample(docs, k=min(25, len(docs))):
                broker.enqueue(
                    notification_message(Commit.from_document(doc)), delay=self.rng.randint(0, 3000)
                )
        except (redis.RedisError, pymongo.errors.PyMongoError) as error:
            self.log.skipped.append(f"replay notifications: {type(error).__name__}")
        except Exception as error:
            self.log.broken.append(f"replay notifications: {type(error).__name__}: {error}")
        finally:
            broker.close()
            db.client.close()

    # --- how long a killed worker's messages wait --------------------------------------

    def _held(self) -> dict[bytes, set[bytes]]:
        ns = self.cluster.settings.redis_namespace
        try:
            client = self._client()
            # Messages being worked on, not delayed retries (those wait for their time)
            held = {
                key: client.smembers(key)
                for key in client.scan_iter(match=f"{ns}:__acks__.*")
                if not key.endswith(b".DQ")
            }
            client.close()
        except redis.RedisError:
            return {}
        return {key: members for key, members in held.items() if members}

    def _time_redelivery(self, held: dict[bytes, set[bytes]], killed_at: float) -> None:
        """Seconds until every message held at the kill has left the
        unacknowledged set it was in (put back, or finished by its holder)."""
        if not held:
            return
        deadline = killed_at + 180
        while time.monotonic() < deadline:
            try:
                client = self._client()
                left = sum(len(members & client.smembers(key)) for key, members in held.items())
                client.close()
            except redis.RedisError:
                left = 1
            if left == 0:
                self.log.redelivery_s.append(time.monotonic() - killed_at)
                return
            time.sleep(0.25)
        self.log.redelivery_s.append(float("inf"))
