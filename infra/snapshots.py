"""Snapshots: an aggregate's state at a version of its stream, kept beside
the stream so that a command reads the newest snapshot and only the
commits after it, however long the stream has grown.

A snapshot is a cache.  Deleting some or all of them changes no decision
and no read model: the next command on each stream replays its commits
from the start, and leaves a snapshot again.  One written by code that
keeps the aggregate otherwise (its schema differs: see
``Aggregate.snapshot_schema``) is ignored, and replaced.

One document per stream in ``snapshots``, ``_id`` the stream id, holding
the newest state written: a lookup by ``_id`` is what every server answers
from its primary key, and there is nothing to clean up.  Two processes
that write one at once are harmless: a write only ever moves a snapshot
forward (or off another schema); the other finds it newer and leaves it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pymongo
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError

log = logging.getLogger(__name__)

SNAPSHOTS = "snapshots"

#: A snapshot's write gives up after this long: it follows a commit whose
#: status and follow-ups wait for it.
WRITE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Snapshot:
    """A stream's state at ``version`` as a snapshot keeps it (``state``
    None: no snapshot of this schema is kept), with the id of the command
    whose commit ended at that version, which a load checks is still there."""

    version: int = 0
    state: dict[str, Any] | None = None
    command_id: str | None = None


NONE = Snapshot()


class Snapshots:
    def __init__(self, db: Database):
        self._collection = db[SNAPSHOTS]

    def load(self, stream_id: str, stream_type: str, schema: str) -> Snapshot:
        """The stream's snapshot, if one of ``schema`` is kept (one round trip)."""
        doc = self._collection.find_one({"_id": stream_id})
        if doc is None or (doc.get("schema"), doc.get("stream_type")) != (schema, stream_type):
            return NONE
        try:
            return Snapshot(int(doc["version"]), dict(doc["state"]), doc.get("command_id"))
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed snapshot of %s", stream_id)
            return NONE

    def save(
        self,
        stream_id: str,
        stream_type: str,
        schema: str,
        version: int,
        state: dict[str, Any],
        command_id: str,
    ) -> bool:
        """Keep ``state``, the stream's at ``version`` (reached by
        ``command_id``'s commit), as its snapshot, unless one as new of the
        same schema is kept: one round trip.  Whether one as new is kept
        now.  A fault is logged, not raised: a snapshot is a cache.

        Never write the state of a version not yet committed."""
        doc = {
            "_id": stream_id,
            "stream_type": stream_type,
            "schema": schema,
            "version": version,
            "command_id": command_id,
            "state": state,
            "written_ms": int(time.time() * 1000),
        }
        older_or_other = {"$or": [{"version": {"$lt": version}}, {"schema": {"$ne": schema}}]}
        try:
            with pymongo.timeout(WRITE_TIMEOUT_S):
                # No match and no document: inserted.  No match because a
                # newer one is kept: the insert meets it (DuplicateKeyError).
                self._collection.replace_one({"_id": stream_id, **older_or_other}, doc, upsert=True)
            return True
        except DuplicateKeyError:
            return True  # another process keeps one as new
        except PyMongoError as exc:
            log.warning("could not keep a snapshot of %s at version %s: %s", stream_id, version, exc)
            return False

    def delete(self, stream_ids: list[str] | None = None) -> int:
        """Forget the snapshots of ``stream_ids`` (every one unless given):
        loads replay from the start until commands write them again."""
        query = {} if stream_ids is None else {"_id": {"$in": stream_ids}}
        return self._collection.delete_many(query).deleted_count
