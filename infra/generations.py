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
and before it drops the old one.

A rebuild holds its generation by a lease it renews in the pointer
document; one whose process died loses it when the lease lapses, and the
next rebuild, or the catch-up, clears it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from infra.mongo import READ_MODEL_POINTERS

POINTER_TTL_S = 1.0


class LeaseLost(RuntimeError):
    """The rebuild's generation was abandoned or taken over: it must stop."""


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

    def pointers(self) -> dict[str, dict[str, Any]]:
        """Every read model's pointer document as stored now (the state of
        its rebuild, if any), by name; none for a model never rebuilt."""
        return {doc["_id"]: doc for doc in self._pointers.find({})}

    # --- used by a rebuild ----------------------------------------------------------
    #
    # A rebuild holds its generation by a lease in the pointer document: an
    # ``owner`` token of its own and ``lease_until_ms`` (epoch milliseconds,
    # by the clock of the rebuild's machine), renewed by an update that
    # matches the token.  Abandoning a rebuild, or taking over one whose
    # lease lapsed, changes the token: the rebuild finds out at its next
    # renewal and stops.  Every change is one conditional update of one
    # document, so two processes cannot both win it.

    def begin(self, name: str, generation: str, *, owner: str, now_ms: int, lease_ms: int) -> str | None:
        """Start filling ``generation`` beside the active collection, held by
        ``owner`` until ``now_ms + lease_ms`` unless renewed.

        Returns:
          The generation of an earlier rebuild whose lease had lapsed and
          which this one replaced (the caller drops it), or None.

        Raises:
          RuntimeError: another rebuild of ``name`` holds a live lease.
        """
        active = self.pointer(name, fresh=True)["active"]
        try:
            self._pointers.insert_one({"_id": name, "active": active, "building": None})
        except DuplicateKeyError:
            pass
        lease = {
            "building": generation,
            "owner": owner,
            "lease_until_ms": now_ms + lease_ms,
            "renewed_ms": now_ms,
        }
        try:
            if self._pointers.update_one({"_id": name, "building": None}, {"$set": lease}).matched_count:
                return None
            doc = self._pointers.find_one({"_id": name}) or {}
            if lapsed(doc, now_ms) and self._replace(doc, lease):
                return doc["building"]
        finally:
            self._forget(name)
        doc = self._pointers.find_one({"_id": name}) or {}
        raise RuntimeError(
            f"{name} is being rebuilt already ({doc.get('building')}, its lease runs "
            f"{max(0, (doc.get('lease_until_ms') or now_ms) - now_ms) / 1000:.0f} s more unless renewed); "
            "if that rebuild died, the next rebuild after its lease lapses takes over, "
            "and `python -m workers.rebuild --abandon` gives it up at once"
        )

    def renew(self, name: str, generation: str, *, owner: str, now_ms: int, lease_ms: int) -> bool:
        """Extend ``owner``'s lease on ``generation``; False if it holds none
        (the rebuild was abandoned or taken over)."""
        result = self._pointers.update_one(
            {"_id": name, "building": generation, "owner": owner},
            {"$set": {"lease_until_ms": now_ms + lease_ms, "renewed_ms": now_ms}},
        )
        return result.matched_count == 1

    def switch(self, name: str, generation: str, *, owner: str) -> str:
        """Make ``generation`` active; returns the collection it replaced.

        Raises:
          LeaseLost: ``owner`` no longer holds ``generation``.
        """
        old = self.pointer(name, fresh=True)["active"]
        result = self._pointers.update_one(
            {"_id": name, "building": generation, "owner": owner},
            {"$set": {"active": generation, **NO_LEASE}},
        )
        self._forget(name)
        if result.matched_count != 1:
            raise LeaseLost(f"{name}: the rebuild of {generation} was abandoned or taken over meanwhile")
        return old

    def abandon(self, name: str, generation: str, *, owner: str | None = None) -> bool:
        """Stop filling ``generation`` (only if ``owner`` still holds it, when
        given); False if the pointer no longer named it."""
        query = {"_id": name, "building": generation, **({"owner": owner} if owner is not None else {})}
        result = self._pointers.update_one(query, {"$set": NO_LEASE})
        self._forget(name)
        return result.matched_count == 1

    def clear_lapsed(self, name: str, now_ms: int) -> str | None:
        """Stop filling a generation whose rebuild's lease has lapsed (the
        rebuild died): returns it, for the caller to drop, or None."""
        doc = self._pointers.find_one({"_id": name}) or {}
        if not lapsed(doc, now_ms):
            return None
        cleared = self._replace(doc, NO_LEASE)
        self._forget(name)
        return doc["building"] if cleared else None

    def _replace(self, seen: dict[str, Any], lease: dict[str, Any]) -> bool:
        """Set ``lease`` if the pointer still holds the lease ``seen`` held:
        a renewal or another takeover meanwhile wins over us."""
        query = {
            "_id": seen["_id"],
            **{key: seen.get(key) for key in ("building", "owner", "lease_until_ms")},
        }
        return self._pointers.update_one(query, {"$set": lease}).matched_count == 1

    def _forget(self, name: str) -> None:
        """This process sees its own switch at once; others within the TTL."""
        with self._lock:
            self._cache.pop(name, None)


#: The pointer fields of a generation being built, cleared.
NO_LEASE = {"building": None, "owner": None, "lease_until_ms": None, "renewed_ms": None}


def lapsed(pointer: dict[str, Any], now_ms: int) -> bool:
    """A generation is being built and its lease ran out before ``now_ms``
    (one set before rebuilds held leases has none, and counts as lapsed)."""
    until = pointer.get("lease_until_ms")
    return bool(pointer.get("building")) and (until is None or until < now_ms)
