"""A rebuild's hold on the generation it fills, and what becomes of a
generation whose rebuild died.

A rebuild holds its generation by a lease (``REBUILD_LEASE``, 30 s) in the
read model's pointer document (infra/generations.py), renewed every third
of that and before every write.  Abandoning the rebuild ends the lease:
the rebuild stops at its next renewal.  A rebuild whose process died
leaves its lease to lapse; then the next rebuild takes over, or the
catch-up's :func:`clean_up_lapsed` clears it, and projectors stop writing
to it."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from pymongo.database import Database

from infra.generations import Generations, LeaseLost
from infra.mongo import BY_NAME

log = logging.getLogger(__name__)


class Lease:
    """A rebuild's hold on its generation, in the pointer document: renewed
    by a thread of its own every third of its length, and by the rebuild
    before each write (:meth:`renew` raises :class:`LeaseLost` once an
    abandon or a takeover ended it)."""

    def __init__(
        self,
        generations: Generations,
        name: str,
        generation: str,
        *,
        lease_s: float,
        clock: Callable[[], float],
    ):
        self._generations = generations
        self.name = name
        self.generation = generation
        self.owner = uuid.uuid4().hex
        self._lease_ms = int(lease_s * 1000)
        self._every_s = lease_s / 3
        self._clock = clock
        self._stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep, name=f"lease {generation}", daemon=True)

    def claim(self) -> str | None:
        """Take the pointer and start renewing; returns the generation of a
        lapsed rebuild taken over, or None.

        Raises:
          RuntimeError: another rebuild of the read model holds a live lease.
        """
        replaced = self._generations.begin(
            self.name, self.generation, owner=self.owner, now_ms=self._now_ms(), lease_ms=self._lease_ms
        )
        self._keeper.start()
        return replaced

    def renew(self) -> None:
        """Extend the lease by its length from now.

        Raises:
          LeaseLost: the rebuild was abandoned or taken over.
        """
        if not self._generations.renew(
            self.name, self.generation, owner=self.owner, now_ms=self._now_ms(), lease_ms=self._lease_ms
        ):
            raise LeaseLost(f"the rebuild of {self.generation} was abandoned or taken over")

    def release(self) -> None:
        """Stop renewing (the pointer is left as it is)."""
        self._stop.set()
        if self._keeper.is_alive() and self._keeper is not threading.current_thread():
            self._keeper.join()

    def _keep(self) -> None:
        failures = 0
        while not self._stop.wait(self._every_s):
            try:
                self.renew()
                failures = 0
            except LeaseLost:
                log.warning("%s: lease lost; the rebuild stops at its next write", self.generation)
                return
            except Exception:
                # The rebuild's own renewal before its next write finds out
                # too; after a whole lease without one, it has lapsed anyway.
                failures += 1
                log.exception("%s: could not renew the lease", self.generation)
                if failures >= 3:
                    return

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def drop_unless_named(
    db: Database,
    generations: Generations,
    name: str,
    generation: str,
    *,
    sleep: Callable[[float], None] | None = None,
) -> bool:
    """Drop ``generation`` of read model ``name``, which the pointer no
    longer names, after ``sleep``-ing out the pointer's TTL twice when given
    (a projector may still hold the old pointer: its write would bring the
    collection back).  Never drops what the pointer names."""
    if sleep is not None:
        sleep(2 * generations.ttl_s)
    pointer = generations.pointer(name, fresh=True)
    if generation in (pointer["active"], pointer["building"]):
        return False
    db[generation].drop()
    return True


def clean_up_lapsed(
    db: Database,
    generations: Generations | None = None,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Clear every read model's generation whose rebuild's lease has lapsed
    (its process died), so projectors stop writing to it, and drop it.

    Safe to call from any number of processes at once: each generation is
    cleared by one conditional update, which one of them wins.  Costs one
    read per read model; only when it cleared something does it wait twice
    the pointer's TTL (2 s) before dropping.

    Returns:
      The generations cleared and dropped.
    """
    generations = generations or Generations(db)
    now_ms = int(clock() * 1000)
    cleared = [(name, g) for name in BY_NAME if (g := generations.clear_lapsed(name, now_ms))]
    if cleared:
        sleep(2 * generations.ttl_s)
    for name, generation in cleared:
        log.warning("%s: cleared %s, whose rebuild's lease lapsed", name, generation)
        drop_unless_named(db, generations, name, generation)
    return [generation for _, generation in cleared]
