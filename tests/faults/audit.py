"""After the load and the faults: wait until the service settles, then
account for every ``202`` against the event store, the statuses and the
read models."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import redis

from domain import order as orders_domain
from domain.order import Order
from domain.product import Product
from infra.commits import Commit, Decision, decoded
from infra.eventstore import COMMITS, EventStore
from infra.keys import Keys
from infra.messages import COMMANDS_QUEUE, PROJECTIONS_QUEUE
from infra.mongo import DEAD_LETTERS, ORDERS, connect
from infra.redisclient import connect_redis
from tests.faults.cluster import Cluster
from tests.faults.faults import FaultLog
from tests.faults.load import Ledger
from workers.handler import settled_status

FINAL = {"succeeded", "rejected", "failed"}
#: ``appendfsync everysec``: what Redis accepted this long before a SIGKILL may be gone.
FSYNC_WINDOW_S = 1.5


@dataclass
class Report:
    accepted: int = 0
    succeeded: int = 0
    rejected: int = 0
    failed: int = 0
    lost: list[str] = field(default_factory=list)
    lost_in_fsync_window: list[str] = field(default_factory=list)
    unknown_answers: int = 0
    disagreeing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    oversold: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    keys_with_two_commands: list[str] = field(default_factory=list)
    drift: int = 0
    drift_output: str = ""
    dead_letters: int = 0
    #: Final commands whose story did not end with their status (their
    #: ``GET /commands/{id}/events`` would never close)...
    stories_open: list[str] = field(default_factory=list)
    #: ... and those of them accepted before a Redis SIGKILL, which may
    #: have lost a step told in its last second.
    stories_open_after_kill: list[str] = field(default_factory=list)
    settled_s: float = 0.0
    longest_redelivery_s: float | None = None
    restarts: dict[str, int] = field(default_factory=dict)

    @property
    def broken(self) -> dict[str, int]:
        return {
            "lost": len(self.lost),
            "duplicated": len(self.duplicated) + len(self.gaps),
            "oversold": len(self.oversold),
            "leaked": len(self.leaked),
            "stuck": len(self.stuck),
            "drift": self.drift,
            "disagreeing": len(self.disagreeing),
            "keys": len(self.keys_with_two_commands),
            "dead letters": self.dead_letters,
            "stories open": len(self.stories_open) - len(self.stories_open_after_kill),
        }

    def summary(self) -> str:
        redelivery = (
            "none measured" if self.longest_redelivery_s is None else f"{self.longest_redelivery_s:.1f} s"
        )
        return (
            f"accepted {self.accepted} / succeeded {self.succeeded} / rejected {self.rejected} / "
            f"failed {self.failed} / lost {len(self.lost)} (+{len(self.lost_in_fsync_window)} in the "
            f"fsync window of a Redis SIGKILL) / duplicated {len(self.duplicated) + len(self.gaps)} / "
            f"oversold {len(self.oversold)} / leaked reservations {len(self.leaked)} / "
            f"stuck orders {len(self.stuck)} / drift {self.drift} / disagreeing statuses "
            f"{len(self.disagreeing)} / keys with two commands {len(self.keys_with_two_commands)} / "
            f"dead letters {self.dead_letters} / stories open {len(self.stories_open)} "
            f"({len(self.stories_open_after_kill)} accepted before a Redis SIGKILL) / "
            f"503 outcome unknown {self.unknown_answers}; "
            f"settled {self.settled_s:.1f} s after the last fault; longest redelivery after a kill "
            f"{redelivery}; restarts {self.restarts}"
        )


def in_fsync_window(at: float, faults: FaultLog) -> bool:
    return any(kill - FSYNC_WINDOW_S <= at <= kill + 0.5 for kill in faults.redis_kills)


def statuses(client: redis.Redis, namespace: str, ids: list[str]) -> dict[str, dict]:
    found = {}
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        for command_id, raw in zip(
            batch, client.mget([f"{namespace}:command:{i}" for i in batch]), strict=True
        ):
            if raw:
                found[command_id] = json.loads(raw)
    return found


def open_stories(client: redis.Redis, namespace: str, final: dict[str, tuple[float, str]]) -> dict[str, str]:
    """Of ``final`` (command id: when it was accepted, its final status),
    the commands whose story did not end with that status, each with what
    its story holds or waits for."""
    keys = Keys(namespace)
    ids = list(final)
    found = {}
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        with client.pipeline(transaction=False) as pipe:
            for command_id in batch:
                pipe.lindex(keys.story(command_id), -1)
                pipe.hgetall(keys.story_state(command_id))
            answers = pipe.execute()
        for command_id, last, state in zip(batch, answers[::2], answers[1::2], strict=True):
            event, _, data = (last or b"").decode().partition(" ")
            if event == "end" and json.loads(data)["status"] == final[command_id][1]:
                continue
            waiting = sorted(k.decode() for k, v in state.items() if v == b"open")
            found[command_id] = f"last entry {last!r}, waiting for {waiting}"
    return found


def settle(cluster: Cluster, ledger: Ledger, *, timeout: float) -> tuple[float, str]:
    """Wait until every accepted command has ended, the queues are empty,
    no commit is undispatched and no order is pending; seconds it took,
    and what was still left if the deadline passed."""
    from workers.catchup import CatchUp

    settings = cluster.settings
    ns = settings.redis_namespace
    ids = [s.command_id for s in ledger.accepted()]
    started = time.monotonic()
    left = "?"
    while time.monotonic() - started < timeout:
        try:
            client = connect_redis(settings, socket_timeout=5)
            db = connect(settings, appname="faults-audit", serverSelectionTimeoutMS=3000)
            try:
                known = statuses(client, ns, ids)
                open_commands = sum(1 for i in ids if known.get(i, {}).get("status") == "accepted")
                queued = sum(  # Dramatiq keeps its delay queues as lists too
                    client.llen(f"{ns}:{q}") + client.llen(f"{ns}:{q}.DQ")
                    for q in (COMMANDS_QUEUE, PROJECTIONS_QUEUE)
                )
                held = sum(client.scard(k) for k in client.scan_iter(match=f"{ns}:__acks__.*"))
                undispatched = db[COMMITS].count_documents({"dispatched": False})
                dead = sum(client.zcard(f"{ns}:{q}.XQ") for q in (COMMANDS_QUEUE, PROJECTIONS_QUEUE))
                pending = db[ORDERS].count_documents({"status": "pending"})
                heads, cursor = [], ""
                store = EventStore(db)
                while cursor is not None:
                    page, cursor = store.heads_after(cursor)
                    heads += page
                projector = type("P", (), {"project": lambda self, note: None})()
                behind = len(CatchUp(db, projector, client, namespace=ns).behind(heads))
            finally:
                client.close()
                db.client.close()
        except Exception as error:  # a server still coming back
            left = f"{type(error).__name__}: {error}"
            time.sleep(1)
            continue
        left = (
            f"{open_commands} commands still accepted, {queued} messages queued, {held} held, "
            f"{undispatched} decisions undispatched, {pending} orders pending, {behind} streams behind, "
            f"{dead} messages in Dramatiq's dead-letter queues"
        )
        if not (open_commands or queued or held or undispatched or pending or behind or dead):
            return time.monotonic() - started, ""
        time.sleep(1)
    return time.monotonic() - started, left


def audit(cluster: Cluster, ledger: Ledger, faults: FaultLog) -> Report:
    settings = cluster.settings
    report = Report(restarts=dict(cluster.restarts))
    client = connect_redis(settings)
    db = connect(settings, appname="faults-audit")
    try:
        accepted = ledger.accepted()
        report.accepted = len(accepted)
        known = statuses(client, settings.redis_namespace, [s.command_id for s in accepted])
        everything = [decoded(doc) for doc in db[COMMITS].find({})]
        by_command: dict[str, Commit | Decision] = {}
        streams: dict[str, list[Commit]] = defaultdict(list)
        for decided in everything:
            if decided.command_id in by_command:
                report.duplicated.append(decided.command_id)
            by_command[decided.command_id] = decided
            if isinstance(decided, Commit):
                streams[decided.stream_id].append(decided)
        for history in streams.values():
            history.sort(key=lambda commit: commit.version_from)

        # A 503 that could not tell: the command must have ended, or never
        # been queued: then its status reads 404, and it left no decision.
        unknown = [s.command_id for s in ledger.sent if s.unknown]
        report.unknown_answers = len(unknown)
        unknown_status = statuses(client, settings.redis_namespace, unknown)
        for command_id in unknown:
            status = unknown_status.get(command_id)
            if status is None and command_id in by_command:
                report.disagreeing.append(f"{command_id}: a 404 status, but decided in the store")
            elif status is not None and status["status"] not in FINAL:
                report.lost.append(command_id)
        # A command that nobody was answered 202 (or "unknown") for must not
        # have run: a 503 that said "nothing was queued" was then a lie.  Only
        # a request whose answer never came (a dropped connection) may have.
        answered = {s.command_id for s in ledger.sent if s.command_id}
        untold = [
            d.command_id for d in everything
            if d.causation_id is None and d.command_id not in answered and d.command_id not in ledger.setup
        ]  # fmt: skip
        dropped = sum(1 for s in ledger.sent if s.status == 0)
        if len(untold) > dropped:
            report.disagreeing.append(f"{len(untold)} commands ran that no answer accounts for: {untold[:3]}")
        for stream_id, history in streams.items():
            expected = 1
            for commit in history:
                if commit.version_from != expected:
                    report.gaps.append(f"{stream_id}@{commit.version_from}")
                expected = commit.version_to + 1

        for sent in accepted:
            status = known.get(sent.command_id)
            state = status["status"] if status else None
            decided = by_command.get(sent.command_id)
            if state not in FINAL:
                # Lost with Redis's last second before a SIGKILL: allowed
                # only if it never ran, and was accepted in that second.
                if in_fsync_window(sent.at, faults) and state is None and decided is None:
                    report.lost_in_fsync_window.append(sent.command_id)
                else:
                    report.lost.append(sent.command_id)
                continue
            setattr(report, state, getattr(report, state) + 1)
            if state == "failed":
                if decided is not None:
                    report.disagreeing.append(f"{sent.command_id} failed but decided")
            elif decided is None:
                report.disagreeing.append(f"{sent.command_id} {state} without a decision in the store")
            elif (state, status["version"] if state == "succeeded" else None) != settled_status(decided):
                report.disagreeing.append(f"{sent.command_id} says {state} {status['version']}")

        products: dict[str, Product] = {}
        orders: dict[str, Order] = {}
        for stream_id, history in streams.items():
            events = [event for commit in history for event in commit.domain_events()]
            if history[0].stream_type == "product":
                products[stream_id] = Product.replay(events)
            else:
                orders[stream_id] = Order.replay(events)
        for product_id, product in products.items():
            if product.stock_available < 0:
                report.oversold.append(product_id)
            for order_id in product.reservations:
                order = orders.get(order_id)
                line = order.line(product_id) if order else None
                if not (
                    order is not None
                    and order.status in (orders_domain.PENDING, orders_domain.CONFIRMED)
                    and line is not None
                    and line.status == orders_domain.RESERVED
                ):
                    report.leaked.append(f"{product_id} holds {order_id}")
        for order_id, order in orders.items():
            if order.status == orders_domain.PENDING:
                report.stuck.append(order_id)
            for line in order.lines:
                held = products.get(line.product_id)
                if (
                    line.status == orders_domain.RESERVED
                    and order.status
                    in (
                        orders_domain.PENDING,
                        orders_domain.CONFIRMED,
                    )
                    and (held is None or order_id not in held.reservations)
                ):
                    report.leaked.append(f"{order_id} line {line.product_id} not held")

        report.keys_with_two_commands = [
            key
            for key, answers in ledger.keyed.items()
            if len({command_id for command_id, _ in answers}) > 1
            # a first answer lost with Redis's last second is the one window
            and not any(in_fsync_window(at, faults) for _, at in answers)
        ]
        report.dead_letters = db[DEAD_LETTERS].count_documents({})
        final = {
            sent.command_id: (sent.at, known[sent.command_id]["status"])
            for sent in accepted
            if known.get(sent.command_id, {}).get("status") in FINAL
        }
        report.stories_open = [
            f"{i}: {why}" for i, why in open_stories(client, settings.redis_namespace, final).items()
        ]
        report.stories_open_after_kill = [
            entry for entry in report.stories_open
            if any(kill >= final[entry.split(":")[0]][0] - FSYNC_WINDOW_S for kill in faults.redis_kills)
        ]  # fmt: skip
    finally:
        client.close()
        db.client.close()

    check = subprocess.run(
        [sys.executable, "-m", "workers.rebuild", "--check", "--quiet"], env=cluster.env, capture_output=True,
        text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    report.drift_output = check.stdout[-2000:] + check.stderr[-2000:]
    report.drift = 0 if check.returncode == 0 else max(1, check.stdout.count("\n") - 1)
    finite = [s for s in faults.redelivery_s]
    report.longest_redelivery_s = max(finite) if finite else None
    return report
