"""Read-model generations: which collection holds each read model.

A read model (``products``, ``orders``) lives in one *active* collection;
while it is rebuilt, a second, *building* generation is filled beside it.
A pointer document per read model in ``read_models`` names both, and a
rebuild ends by pointing ``active`` at the new generation.  (Renaming
collections would not do: nx-27017 answers ``renameCollection`` with ok and
does nothing, and a sharded collection cannot be renamed.)

Processes cache the pointer for ``ttl_s``: queries then cost no extra read,
and a switch reaches every process within that time.  A rebuild waits for
twice that before it relies on every projector writing to its generation,
and before it drops the old one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from infra.mongo import ORDERS, PRODUCTS, READ_MODEL_POINTERS

#: Read model name -> the stream type it is projected from.
READ_MODELS = {PRODUCTS: "product", ORDERS: "order"}
BY_STREAM_TYPE = {stream_type: name for name, stream_type in READ_MODELS.items()}

POINTER_TTL_S = 1.0


class Generations:
    def __init__(
        self, db: Database, *, ttl_s: float = POINTER_TTL_S, clock: Callable[[], float] = time.monotonic
    ):
        self._db = db
        self._pointers = db[READ_MODEL_POINTERS]
        self.ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def pointer(self, name: str, *, fresh: bool = False) -> dict[str, Any]:
        """``{active, building}`` collection names of read model ``name``."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
        if cached is not None and not fresh and now - cached[0] < self.ttl_s:
            return cached[1]
        doc = self._pointers.find_one({"_id": name}) or {}
        pointer = {"active": doc.get("active") or name, "building": doc.get("building")}
        with self._lock:
            self._cache[name] = (now, pointer)
        return pointer

    def active(self, name: str) -> Collection:
        return self._db[self.pointer(name)["active"]]

    def targets(self, name: str, *, fresh: bool = False) -> list[Collection]:
        """The collections a projector writes: active, and building if any."""
        pointer = self.pointer(name, fresh=fresh)
        return [self._db[n] for n in (pointer["active"], pointer["building"]) if n]

    # --- used by a rebuild ----------------------------------------------------------

    def begin(self, name: str, generation: str) -> str:
        """Start filling ``generation`` beside the active collection.

        Raises:
          RuntimeError: another rebuild of ``name`` is under way.
        """
        active = self.pointer(name, fresh=True)["active"]
        try:
            self._pointers.insert_one({"_id": name, "active": active, "building": None})
        except DuplicateKeyError:
            pass
        result = self._pointers.update_one(
            {"_id": name, "building": None}, {"$set": {"building": generation}}
        )
        self._forget(name)
        if result.matched_count != 1:
            building = self.pointer(name, fresh=True)["building"]
            raise RuntimeError(
                f"{name} is being rebuilt already ({building}); "
                "if that rebuild died, `python -m workers.rebuild --abandon` gives it up"
            )
        return active

    def switch(self, name: str, generation: str) -> str:
        """Make ``generation`` active; returns the collection it replaced."""
        old = self.pointer(name, fresh=True)["active"]
        result = self._pointers.update_one(
            {"_id": name, "building": generation}, {"$set": {"active": generation, "building": None}}
        )
        self._forget(name)
        if result.matched_count != 1:
            raise RuntimeError(f"{name}: the rebuild of {generation} was abandoned meanwhile")
        return old

    def abandon(self, name: str, generation: str) -> None:
        self._pointers.update_one({"_id": name, "building": generation}, {"$set": {"building": None}})
        self._forget(name)

    def _forget(self, name: str) -> None:
        """This process sees its own switch at once; others within the TTL."""
        with self._lock:
            self._cache.pop(name, None)
