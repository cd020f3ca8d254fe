"""Dead letters: messages that a projection or a command handler could not
apply, however often it tried (a bug, bad data), kept in ``dead_letters``
with the stream, version, handler, error and traceback.

While one is there, its stream's read model is marked ``stuck`` (answers
about it say ``Read-Model-Stale: true``); every other stream goes on.
``python -m workers.deadletters`` lists them and applies them again."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from infra.commits import now
from infra.generations import Generations
from infra.messages import HANDLE_COMMAND
from infra.mongo import DEAD_LETTERS, READ_MODELS

log = logging.getLogger(__name__)


class DeadLetters:
    """The ``dead_letters`` collection, and the ``stuck`` mark they put on read models."""

    def __init__(self, db: Database, generations: Generations | None = None):
        self._letters = db[DEAD_LETTERS]
        self._generations = generations or Generations(db)

    def record(
        self,
        *,
        handler: str,
        stream_id: str,
        stream_type: str,
        version: int | None,
        message: dict[str, Any],
        error: BaseException,
        ref: str | None = None,
    ) -> str:
        """Keep ``message`` with what went wrong, and mark its stream stuck.
        ``ref`` tells apart letters of one stream and version (a command id)."""
        letter_id = f"{handler}:{stream_id}:{ref or version}"
        detail = {
            "error": f"{type(error).__name__}: {error}",
            "traceback": "".join(traceback.format_exception(error)),
        }
        try:
            self._letters.insert_one(
                {
                    "_id": letter_id,
                    "handler": handler,
                    "stream_id": stream_id,
                    "stream_type": stream_type,
                    "version": version,
                    "message": message,
                    "recorded_at": now(),
                    "attempts": 1,
                    **detail,
                }
            )
        except DuplicateKeyError:
            self._letters.update_one({"_id": letter_id}, {"$set": detail, "$inc": {"attempts": 1}})
        if handler != HANDLE_COMMAND:
            # A command that cannot be applied holds up no projection: its
            # stream's read model is current, only the command is lost.
            self.mark_stuck(stream_type, stream_id, letter_id)
        log.error("dead letter %s: %s", letter_id, detail["error"])
        return letter_id

    def mark_stuck(self, stream_type: str, stream_id: str, letter_id: str) -> None:
        for collection in self._read_models(stream_type):
            collection.update_one({"_id": stream_id}, {"$set": {"stuck": letter_id}})

    def unstick(self, stream_type: str, stream_id: str, letter_id: str) -> None:
        for collection in self._read_models(stream_type):
            collection.update_one({"_id": stream_id, "stuck": letter_id}, {"$unset": {"stuck": ""}})

    def _read_models(self, stream_type: str) -> list[Collection]:
        """Every generation being written of the stream kind's read model."""
        model = READ_MODELS.get(stream_type)
        return self._generations.targets(model.name) if model is not None else []

    def count(self) -> int:
        """About how many letters are kept (the collection's own count: cheap)."""
        return self._letters.estimated_document_count()

    def all(self) -> list[dict[str, Any]]:
        return list(self._letters.find({}, sort=[("recorded_at", 1)]))

    def oldest(self, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` oldest letters, without their message and traceback."""
        found = self._letters.find({}, {"message": 0, "traceback": 0}, sort=[("recorded_at", 1)], limit=limit)
        return list(found)

    def get(self, letter_id: str) -> dict[str, Any] | None:
        return self._letters.find_one({"_id": letter_id})

    def stuck_streams(self) -> set[str]:
        return {letter["stream_id"] for letter in self._letters.find({}, {"stream_id": 1})}

    def remove(self, letter: dict[str, Any]) -> None:
        self._letters.delete_one({"_id": letter["_id"]})
        if self._letters.count_documents({"stream_id": letter["stream_id"]}) == 0:
            self.unstick(letter["stream_type"], letter["stream_id"], letter["_id"])
