"""Folding a stream into its read-model document stops at the first event
it cannot apply, whatever the reason: the view fails, or the stored event
cannot be read (an unknown type, data of the wrong shape).  What came
before stands, and the failure names the event's version: a rebuild
dead-letters that stream and goes on."""

from datetime import UTC, datetime

import pytest

from domain.events import ProductCreated, StockAdjusted
from domain.projections import product_view
from infra.commits import Commit
from workers.projector import Projector, fold

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def commit_with(*stored):
    good = Commit.new(
        stream_id="p-1", stream_type="product", after_version=0, command_id="c-1", correlation_id="c-1",
        events=[ProductCreated("MUG-1", "Mug", 1250, "EUR", None, "kitchen", 3)],
    )  # fmt: skip
    return Commit(
        stream_id="p-1", stream_type="product", version_from=1, version_to=1 + len(stored),
        events=[*good.events, *stored], command_id="c-1", correlation_id="c-1", causation_id=None,
        recorded_at=AT,
    )  # fmt: skip


def test_an_unknown_event_type_stops_the_fold_at_its_version():
    commit = commit_with({"type": "NoSuchEvent", "version": 2, "data": {}})
    folded = fold(product_view, None, commit.recorded())
    assert folded.doc["version"] == 1 and folded.doc["stock_available"] == 3
    version, error = folded.failure
    assert version == 2 and isinstance(error, KeyError)


def test_event_data_of_the_wrong_shape_stops_the_fold_at_its_version():
    commit = commit_with(
        {"type": "StockAdjusted", "version": 2, "data": StockAdjusted(2, "count").to_dict()},
        {"type": "StockAdjusted", "version": 3, "data": {"no such field": 1}},
    )
    folded = fold(product_view, None, commit.recorded())
    assert folded.doc["version"] == 2 and folded.doc["stock_available"] == 5
    assert folded.failure[0] == 3 and isinstance(folded.failure[1], TypeError)


def test_a_replay_folds_the_same_way():
    projector = Projector(store=None, db=None, generations=object())
    folded = projector.replayed("product", [commit_with({"type": "NoSuchEvent", "version": 2, "data": {}})])
    assert folded.doc["version"] == 1
    assert folded.failure[0] == 2


def test_reading_a_bad_event_outside_a_fold_still_raises():
    commit = commit_with({"type": "NoSuchEvent", "version": 2, "data": {}})
    recorded = commit.recorded()
    assert recorded[0].event == ProductCreated("MUG-1", "Mug", 1250, "EUR", None, "kitchen", 3)
    with pytest.raises(KeyError):
        _ = recorded[1].event
