"""``?dry_run=true`` on a command route: the command decided against its
stream as the event store holds it now, by the worker's own code
(infra/deciding.py), and answered ``200`` with the events it would commit
or the rule it breaks.  Nothing is written, claimed or queued."""

from __future__ import annotations

from typing import Any

import falcon
import pymongo
from pymongo.database import Database

from domain.commands import Command, CreateProduct, command_from_dict
from domain.errors import DomainError
from domain.streams import STREAM_KINDS
from infra import deciding, loading
from infra.commits import REFUSED, UNCHANGED
from infra.eventstore import EventStore
from infra.messages import CommandEnvelope
from infra.skus import SkuClaims
from infra.snapshots import Snapshots
from web import responses
from web.ports import CommandPreview

#: A dry run's reads of the store give up after this long (then 503): a
#: request thread is not held by a slow store.
READ_TIMEOUT_S = 2.0

class StoreDecisions:
    """Decides commands on the event store's streams and keeps nothing: it
    reads a stream's snapshot and the commits after it, as the worker
    loads it, and a create's SKU claim without claiming it."""

    def __init__(self, store: EventStore, snapshots: Snapshots, skus: SkuClaims):
        self._store = store
        self._snapshots = snapshots
        self._skus = skus

    @classmethod
    def on(cls, db: Database) -> StoreDecisions:
        return cls(EventStore(db), Snapshots(db), SkuClaims(db))

    def preview(self, command: Command) -> deciding.Proposal:
        with pymongo.timeout(READ_TIMEOUT_S):
            if isinstance(command, CreateProduct):
                self._check_sku(command)
            start, history = self._load(command)
            return deciding.propose(command, deciding.replay(command, history, start))

    def _check_sku(self, command: CreateProduct) -> None:
        """Refuse as the worker's claim would.  A SKU held by a create not
        yet decided does not refuse: the worker waits for that one's end."""
        holder = self._skus.holder(command.sku)
        if holder is None:
            return
        taken = deciding.sku_taken(
            command, holder, self._store.find_by_command(holder.product_id, holder.command_id)
        )
        if taken is not None:
            raise taken

    def _load(self, command: Command) -> tuple[Any, list]:
        """The state to start from (None: the beginning) and the commits
        after it, loaded as the worker loads them from the snapshot."""
        kind = STREAM_KINDS[command.stream_type]
        snapshot = self._snapshots.load(command.stream_id, kind.name, kind.aggregate.snapshot_schema())
        start = loading.snapshot_start(snapshot, kind, command.stream_id)
        loaded = loading.load(self._store, command.stream_id, start)
        return loaded.start.state, loaded.history


def answer(resp: falcon.Response, decisions: CommandPreview, envelope: CommandEnvelope) -> None:
    """Answer ``200`` with what ``envelope``'s command would do."""
    body: dict[str, Any] = {
        "dry_run": True,
        "command": envelope.type,
        "stream_type": envelope.stream_type,
        "stream_id": envelope.stream_id,
    }
    try:
        proposal = decisions.preview(command_from_dict(envelope.type, envelope.payload))
    except DomainError as refusal:
        body |= {"outcome": REFUSED, "version": None, "events": [], "error": {
            "code": refusal.code, "detail": refusal.detail,
        }}  # fmt: skip
    else:
        events = proposal.stored()
        body |= {
            "outcome": responses.COMMITTED if events else UNCHANGED,
            # As the command's status would say: the version it produces.
            "version": events[-1]["version"] if events else proposal.after_version,
            "events": events,
            "error": None,
        }
    resp.status = falcon.HTTP_200
    resp.media = responses.DRY_RUN.dump(body)
