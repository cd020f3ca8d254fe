"""Fakes for the ports of the web tier and of the command handler, and a
test client built on them.  Each fake subclasses the port it stands for
(``web/ports.py``, ``workers/ports.py``); test_ports.py checks that it
implements every method of it."""

import heapq
import uuid
from collections import defaultdict

from falcon import testing

from infra import deciding
from infra.commandbus import Accepted
from infra.commits import Commit, Decision
from infra.eventstore import AlreadyCommitted, ConcurrencyConflict
from infra.settings import Settings
from infra.skus import Claim, now_ms
from infra.snapshots import Snapshot
from infra.statuses import FINAL, REJECTED, SUCCEEDED, record
from infra.stories import Told
from web.app import create_app
from web.bootstrap import WebAdapters
from web.ports import (
    CommandPreview,
    CommandSubmitter,
    DeadLetterDesk,
    OrderReadModel,
    ProductReadModel,
    ReadModelVersion,
    RebuildPointers,
    SignalSource,
    SignalWatch,
    StateReadings,
    StatusLookup,
    StoryReader,
    StreamHistory,
    StreamProgress,
)
from web.readings import QUEUES, LagReading, QueueReading, RedisReading
from web.views import Page
from workers.ports import EventLog, MessageSender, SkuRegistry, SnapshotStore, StatusBook


class FakeCommandBus(CommandSubmitter):
    def __init__(self):
        self.submitted = []
        self.keys = []

    def submit(self, envelope, response, idempotency=None):
        self.submitted.append(envelope)
        self.keys.append(idempotency)
        return Accepted(response)


class FakeDecisions(CommandPreview):
    """Decides on streams of commits in memory (``streams``), with the
    worker's code; ``previewed`` lists the commands it decided."""

    def __init__(self, streams=None):
        self.streams: dict[str, list[Commit]] = streams or {}
        self.previewed = []

    def preview(self, command):
        self.previewed.append(command)
        history = self.streams.get(command.stream_id, [])
        return deciding.propose(command, deciding.replay(command, history))


class FakeStatuses(StatusLookup):
    def __init__(self, records=()):
        self.records = {r["command_id"]: r for r in records}

    def get(self, command_id):
        return self.records.get(command_id)


class FakeViews(ProductReadModel):
    def __init__(self, products=()):
        self.products = {p["id"]: p for p in products}
        self.listed = []

    def get(self, stream_id):
        return self.products.get(stream_id)

    def list(self, where, sort, limit, after=None):
        self.listed.append((where, sort, limit, after))
        items = sorted(self.products.values(), key=lambda p: p["id"])
        return Page(
            items[:limit], [items[limit - 1]["name"], items[limit - 1]["id"]] if len(items) > limit else None
        )


class FakeOrderViews(OrderReadModel):
    def __init__(self, orders=()):
        self.orders = {o["id"]: o for o in orders}
        self.listed = []

    def get(self, stream_id):
        return self.orders.get(stream_id)

    def for_customer(self, customer_id, status, limit, after=None):
        self.listed.append((customer_id, status, limit, after))
        items = [o for o in self.orders.values() if o["customer_id"] == customer_id]
        more = len(items) > limit
        return Page(items[:limit], [items[limit - 1]["placed_at"], items[limit - 1]["id"]] if more else None)


class FakeProgress(StreamProgress):
    """Stream heads and the newest applied time, as the projector would keep them."""

    channel = "signals"

    def __init__(self, heads=None, newest=None):
        self.heads_by_id = heads or {}
        self.newest = newest

    def heads(self, stream_ids):
        return {s: self.heads_by_id[s] for s in stream_ids if s in self.heads_by_id}

    def newest_applied(self, collection):
        return self.newest


class FakeVersions(ReadModelVersion):
    """Read-model versions by stream id; a test moves them along."""

    def __init__(self, versions=None):
        self.versions = versions or {}

    def __call__(self, stream_type, stream_id):
        return self.versions.get(stream_id, 0)


class FakeClock:
    """Monotonic seconds that move only when a fake waits; what is due at
    a moment happens when the clock passes it."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self._due: list[tuple[float, int, object]] = []

    def __call__(self) -> float:
        return self.now

    def after(self, seconds: float, action) -> None:
        """Run ``action()`` once ``seconds`` have passed."""
        heapq.heappush(self._due, (self.now + seconds, len(self._due), action))

    def advance(self, seconds: float) -> None:
        until = self.now + max(seconds, 0)
        while self._due and self._due[0][0] <= until:
            at, _, action = heapq.heappop(self._due)
            self.now = max(self.now, at)
            action()
        self.now = until


class FakeHub(SignalSource):
    """Signals nothing: waits run on their timers, on ``clock``."""

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.watches: list[FakeWatch] = []

    def watch(self, keys):
        watch = FakeWatch(self.clock)
        watch.add(keys)
        self.watches.append(watch)
        return watch


class FakeWatch(SignalWatch):
    def __init__(self, clock: FakeClock):
        self._clock = clock
        self.keys: list[str] = []
        self.closed = False

    def wait(self, timeout):
        self._clock.advance(timeout)
        return False

    def add(self, keys):
        self.keys += [key for key in keys if key not in self.keys]

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FakeStories(StoryReader):
    """Stories in memory: ``tell`` adds an entry, as the workers' steps do."""

    def __init__(self):
        self.stories: dict[str, list[Told]] = defaultdict(list)

    def tell(self, story_id: str, event: str, **data) -> None:
        told = self.stories[story_id]
        told.append(Told(len(told) + 1, event, data))

    def read(self, story_id, after=0, *, count=500):
        return self.stories.get(story_id, [])[after : after + count]

    def last(self, story_id):
        told = self.stories.get(story_id)
        return told[-1] if told else None


class FakeHistory(StreamHistory):
    def __init__(self, streams=None):
        self.streams = streams or {}

    def events(self, stream_id, stream_type):
        return self.streams.get(stream_id)


IDS = [uuid.UUID(int=i) for i in range(1, 100)]
VALID = {"sku": "MUG-1", "name": "Mug", "price_cents": 1250, "currency": "EUR"}


class FakeReadings(StateReadings):
    """Quiet queues and no lag unless given; the sources in ``down`` raise."""

    def __init__(self, redis: RedisReading | None = None, dead_letters: int = 0, down: tuple[str, ...] = ()):
        self.redis = redis or RedisReading(
            queues={queue: QueueReading(0, 0, 0, 0.0) for queue in QUEUES},
            outcomes={},
            latency={},
            lag={"products": LagReading(0, 0.0), "orders": LagReading(0, 0.0)},
            lag_measured_age_s=None,
        )
        self.count = dead_letters
        self.down = down

    def from_redis(self):
        if "redis" in self.down:
            raise ConnectionError("redis")
        return self.redis

    def dead_letters(self):
        if "mongodb" in self.down:
            raise ConnectionError("mongodb")
        return self.count


class FakeDesk(DeadLetterDesk):
    """Letters in memory; the retries queued are kept in ``queued``."""

    def __init__(self, letters=()):
        self.letters = {letter["_id"]: letter for letter in letters}
        self.queued: list[str] = []

    def oldest(self, limit):
        return sorted(self.letters.values(), key=lambda letter: letter["recorded_at"])[:limit]

    def exists(self, letter_id):
        return letter_id in self.letters

    def queue_retry(self, letter_id):
        self.queued.append(letter_id)


class FakeRebuildPointers(RebuildPointers):
    def __init__(self, pointers=None):
        self.pointers = pointers or {}

    def __call__(self):
        return self.pointers


def make_client(**fakes) -> testing.TestClient:
    """A test client of the app over fakes; a ``clock`` (a :class:`FakeClock`)
    is the time its waits take, on the fake hub unless one is given."""
    ids = iter(IDS)
    clock = fakes.pop("clock", None) or FakeClock()
    collaborators = {
        "command_bus": FakeCommandBus(),
        "decisions": FakeDecisions(),
        "statuses": FakeStatuses(),
        "product_views": FakeViews(),
        "order_views": FakeOrderViews(),
        "progress": FakeProgress(),
        "hub": FakeHub(clock),
        "versions": FakeVersions(),
        "history": FakeHistory(),
        "stories": FakeStories(),
        "ready_checks": {"redis": lambda: True, "mongodb": lambda: True},
        "readings": FakeReadings(),
        "dead_letters": FakeDesk(),
        "rebuilds": FakeRebuildPointers(),
        **fakes,
    }
    settings = collaborators.pop(
        "settings", Settings(mongodb_uri="", mongodb_database="", redis_url="", allow_anonymous=True)
    )
    adapters = WebAdapters(**collaborators)
    return testing.TestClient(create_app(settings, adapters, uuidgen=lambda: next(ids), clock=clock))


# --- the command handler's ports ------------------------------------------------


class FakeSnapshotStore(SnapshotStore):
    """One snapshot per stream in memory, kept as the store keeps them: a
    write only moves one forward (or off another schema)."""

    def __init__(self):
        self.kept: dict[str, dict] = {}

    def load(self, stream_id, stream_type, schema):
        doc = self.kept.get(stream_id)
        if doc is None or (doc["schema"], doc["stream_type"]) != (schema, stream_type):
            return Snapshot()
        return Snapshot(doc["version"], doc["state"], doc["command_id"])

    def save(self, stream_id, stream_type, schema, version, state, command_id):
        doc = self.kept.get(stream_id)
        if doc is None or doc["version"] < version or doc["schema"] != schema:
            self.kept[stream_id] = {"stream_type": stream_type, "schema": schema, "version": version}
            self.kept[stream_id].update(state=state, command_id=command_id)
        return True

    def delete(self, stream_ids=None):
        gone = [i for i in self.kept if stream_ids is None or i in stream_ids]
        for stream_id in gone:
            del self.kept[stream_id]
        return len(gone)


class FakeEventLog(EventLog):
    """Streams in memory, refusing appends as the store's unique indexes do.

    ``racers`` are other writers: before each of the next appends, one of
    them runs (and may append first), so that the append meets a conflict.
    ``appends`` counts the appends other than the racers'; ``loads`` lists
    each load's ``(stream_id, after_version)``."""

    def __init__(self):
        self.streams: dict[str, list[Commit | Decision]] = defaultdict(list)
        self.racers: list = []
        self.appends = 0
        self.loads: list[tuple[str, int]] = []
        self._racing = False

    def load(self, stream_id, after_version=0):
        self.loads.append((stream_id, after_version))
        commits = [c for c in self.streams.get(stream_id, []) if isinstance(c, Commit)]
        return sorted((c for c in commits if c.version_to > after_version), key=lambda c: c.version_from)

    def find_by_command(self, stream_id, command_id):
        return next((c for c in self.streams.get(stream_id, []) if c.command_id == command_id), None)

    def append(self, commit):
        if not self._racing:
            self.appends += 1
            if self.racers:
                self._racing = True
                try:
                    self.racers.pop(0)()
                finally:
                    self._racing = False
        existing = self.find_by_command(commit.stream_id, commit.command_id)
        if existing is not None:
            raise AlreadyCommitted(existing)
        if any(c.version_from == commit.version_from for c in self.streams[commit.stream_id]):
            raise ConcurrencyConflict(f"{commit.stream_id} already has version {commit.version_from}")
        self.streams[commit.stream_id].append(commit)


class FakeSkuRegistry(SkuRegistry):
    """SKU claims in memory; a claim changes only if it is as it was read."""

    def __init__(self):
        self.claims: dict[str, Claim] = {}

    def insert(self, claim):
        return self.claims.setdefault(claim.sku, claim) is claim

    def holder(self, sku):
        return self.claims.get(sku)

    def refresh(self, claim):
        return self.take_over(claim, Claim(claim.sku, claim.product_id, claim.command_id, now_ms()))

    def take_over(self, stale, claim):
        held = self.claims.get(stale.sku)
        if held is None or (held.command_id, held.claimed_ms) != (stale.command_id, stale.claimed_ms):
            return False
        self.claims[stale.sku] = claim
        return True

    def release(self, claim):
        held = self.claims.get(claim.sku)
        if held is not None and held.command_id == claim.command_id:
            del self.claims[claim.sku]


class FakeStatusBook(FakeStatuses, StatusBook):
    """Command statuses in memory: a final ``succeeded`` or ``rejected`` is
    never overwritten, as in Redis."""

    def __init__(self, records=()):
        super().__init__(records)
        self.finished: list[dict] = []

    def finish(self, envelope, status, *, version=None, error=None, commit=None):
        assert status in FINAL
        known = self.records.get(envelope.command_id)
        outcome = record(envelope, status, version=version, error=error, completed=True)
        self.finished.append(outcome)
        if known is None or known["status"] not in (SUCCEEDED, REJECTED):
            self.records[envelope.command_id] = outcome


class FakeSender(MessageSender):
    """Keeps what it is handed and records the status in ``statuses``, all
    at once, as the broker does; ``down`` makes it refuse, as a broker away."""

    def __init__(self, statuses: FakeStatusBook):
        self.statuses = statuses
        self.published: list[Commit] = []
        self.sent = []
        self.down = False

    def hand_over(self, envelope, status, *, follow_ups=(), commit=None, version=None, error=None):
        if self.down:
            raise ConnectionError("broker down")
        self.sent.extend(follow_ups)
        if commit is not None:
            self.published.append(commit)
        self.statuses.finish(envelope, status, version=version, error=error, commit=commit)
