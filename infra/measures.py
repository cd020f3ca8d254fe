"""Measures of the work the workers do, kept in Redis so that ``/metrics``
on any web process tells them, whichever process did the work (workers
take no scrapes):

- each command's outcome, counted by type and outcome;
- its latency, from acceptance (``submitted_at``) to its final status, as a
  histogram by type and outcome: one count per bucket (not cumulative) and
  a running sum, in one hash;
- the projection lag each catch-up pass measured.

All are written by the call that records the outcome, or by the pass that
measured them, so they never disagree with what they count."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Upper bounds, in seconds: a command takes milliseconds when all is well,
#: tens of seconds while its retries back off, minutes for a follow-up that
#: waits out an outage.
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
INF = "+Inf"


def outcome_field(command_type: str, outcome: str) -> str:
    return f"{command_type}|{outcome}"


def latency_fields(command_type: str, outcome: str, seconds: float) -> tuple[str, str]:
    """The fields of the latency hash one observation increments: its
    bucket's count, and the sum."""
    bound = next((b for b in LATENCY_BUCKETS_S if seconds <= b), None)
    prefix = outcome_field(command_type, outcome)
    return f"{prefix}|{INF if bound is None else format_bound(bound)}", f"{prefix}|sum"


def format_bound(bound: float) -> str:
    return INF if math.isinf(bound) else repr(float(bound))


@dataclass
class Histogram:
    counts: dict[str, int] = field(default_factory=dict)  # per bucket, not cumulative
    sum: float = 0.0

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count)`` for every bucket and ``+Inf``, as Prometheus has them."""
        running, found = 0, []
        for bound in (*map(format_bound, LATENCY_BUCKETS_S), INF):
            running += self.counts.get(bound, 0)
            found.append((bound, running))
        return found


def read_latency(raw: dict[bytes, bytes]) -> dict[tuple[str, str], Histogram]:
    """The latency hash, by ``(type, outcome)``."""
    found: dict[tuple[str, str], Histogram] = {}
    for key, value in raw.items():
        command_type, outcome, part = key.decode().split("|")
        histogram = found.setdefault((command_type, outcome), Histogram())
        if part == "sum":
            histogram.sum = float(value)
        else:
            histogram.counts[part] = int(value)
    return found
