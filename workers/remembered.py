"""What a worker process remembers between messages, bounded: the values
kept most recently, by key, shared by the process's threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Remembered(Generic[V]):
    """The ``limit`` values kept most recently, by key (none if ``limit`` is 0)."""

    def __init__(self, limit: int):
        self._limit = limit
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            return self._values.get(key)

    def pop(self, key: Hashable) -> V | None:
        with self._lock:
            return self._values.pop(key, None)

    def keep(self, key: Hashable, value: V) -> None:
        if self._limit <= 0:
            return
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self._limit:
                self._values.popitem(last=False)
