"""Several of the service's Redis steps in one atomic round trip.

A *step* is a small Lua function of its own keys and arguments (``K``,
``A``), named and written beside the code it belongs to: queueing a
message (infra/broker.py), recording a command's outcome
(infra/statuses.py), a read model's progress (infra/progress.py), a
message's acknowledgement (infra/broker.py).  ``Steps.run`` sends any
sequence of them as one script call, so that what a settled message hands
over, and the acknowledgement itself, happen together or not at all.

The script is built from the functions of the steps it runs, once per set
of step names (a handful), and Redis caches it by its digest."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from redis.commands.core import Script

#: Runs the steps listed in ARGV: ``ARGV[1]`` is their count, then for
#: each its name and how many keys and arguments it takes; then every
#: step's arguments in order.  KEYS holds every step's keys in order.
_RUN = """
local count = tonumber(ARGV[1])
local k, a = 1, 2 + 3 * count
local results = {}
for s = 0, count - 1 do
  local name = ARGV[2 + 3 * s]
  local nkeys, nargs = tonumber(ARGV[3 + 3 * s]), tonumber(ARGV[4 + 3 * s])
  local K, A = {}, {}
  for j = 1, nkeys do K[j] = KEYS[k]; k = k + 1 end
  for j = 1, nargs do A[j] = ARGV[a]; a = a + 1 end
  results[s + 1] = STEPS[name](K, A) or 0
end
return results
"""


@dataclass(frozen=True)
class Step:
    """One step: ``lua`` is the body of ``function(K, A)``, which may
    return an integer (the step's result)."""

    name: str
    lua: str
    keys: tuple[str, ...]
    args: tuple[str | int | float | bytes, ...]


class Steps:
    """Runs sequences of steps on one Redis client."""

    def __init__(self, client: redis.Redis):
        self._client = client
        self._scripts: dict[frozenset[tuple[str, str]], Script] = {}
        self._lock = threading.Lock()

    def run(self, steps: Sequence[Step]) -> list[int]:
        """Run ``steps`` in order, atomically, in one round trip; each one's
        result, in order."""
        if not steps:
            return []
        keys: list[str] = []
        header: list[str | int] = [len(steps)]
        args: list[str | int | float | bytes] = []
        for step in steps:
            header += [step.name, len(step.keys), len(step.args)]
            keys += step.keys
            args += step.args
        return self._script(steps)(keys=keys, args=[*header, *args])

    def _script(self, steps: Sequence[Step]) -> Script:
        functions = frozenset((step.name, step.lua) for step in steps)
        script = self._scripts.get(functions)
        if script is None:
            names = [name for name, _ in functions]
            if len(set(names)) != len(names):
                raise ValueError(f"two steps of one name with different code: {sorted(names)}")
            body = "".join(
                f"STEPS[{name!r}] = function(K, A)\n{lua}\nend\n" for name, lua in sorted(functions)
            )
            with self._lock:
                script = self._scripts.setdefault(
                    functions, self._client.register_script(f"local STEPS = {{}}\n{body}{_RUN}")
                )
        return script
