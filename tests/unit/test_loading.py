"""Loading a stream to decide on (infra/loading.py), over the handler's
fakes: from a snapshot whose commit is still there, reading only what
follows; from the beginning when it is not, or cannot be read."""

from __future__ import annotations

import logging

import pytest

from domain.commands import AdjustStock, CreateProduct
from domain.product import Product
from domain.streams import STREAM_KINDS
from infra import loading
from infra.messages import CommandEnvelope
from infra.snapshots import Snapshot
from tests.unit.fakes import IDS, VALID, FakeEventLog, FakeSender, FakeSkuRegistry, FakeStatusBook
from workers.handler import CommandHandler

P = str(IDS[91])
PRODUCT = STREAM_KINDS["product"]


@pytest.fixture
def store():
    """Product P: created at version 1, then 4 stock adjustments (versions 2-5)."""
    store, statuses = FakeEventLog(), FakeStatusBook()
    handler = CommandHandler(store, FakeSkuRegistry(), FakeSender(statuses), statuses)
    handler.handle(CommandEnvelope.wrap(CreateProduct(product_id=P, **VALID, stock=1), command_id="c-1"))
    for version in range(2, 6):
        handler.handle(CommandEnvelope.wrap(AdjustStock(P, 1), command_id=f"c-{version}"))
    store.loads.clear()
    return store


def state_at(store: FakeEventLog, version: int) -> Product:
    return Product.replay(e for c in store.load(P) if c.version_to <= version for e in c.domain_events())


def test_from_the_beginning_it_reads_the_whole_stream(store):
    loaded = loading.load(store, P, loading.FROM_SCRATCH)
    assert [c.version_to for c in loaded.history] == [1, 2, 3, 4, 5]
    assert loaded.start is loading.FROM_SCRATCH and not loaded.missed
    assert store.loads == [(P, 0)]


def test_from_a_kept_state_it_reads_only_what_follows_in_one_round_trip(store):
    snapshot = Snapshot(3, state_at(store, 3).to_snapshot(), "c-3")
    store.loads.clear()
    start = loading.snapshot_start(snapshot, PRODUCT, P)
    assert (start.version, start.command_id, start.from_snapshot) == (3, "c-3", True)
    loaded = loading.load(store, P, start)
    # The commit ending at version 3 is read too, as the check that it is still there
    assert store.loads == [(P, 2)]
    assert [c.version_to for c in loaded.history] == [4, 5]
    assert loaded.start == start and not loaded.missed


def test_a_state_whose_commit_the_store_does_not_hold_is_not_decided_on(store):
    # As after a store restored without its last commits, or a snapshot of
    # another command's commit at that version
    for command_id in ("c-elsewhere", None):
        start = loading.snapshot_start(Snapshot(3, state_at(store, 3).to_snapshot(), command_id), PRODUCT, P)
        loaded = loading.load(store, P, start)
        assert loaded.missed and loaded.start is loading.FROM_SCRATCH
        assert [c.version_to for c in loaded.history] == [1, 2, 3, 4, 5]
    ahead = loading.snapshot_start(Snapshot(9, state_at(store, 5).to_snapshot(), "c-9"), PRODUCT, P)
    assert loading.load(store, P, ahead).missed


def test_no_snapshot_or_an_unreadable_one_starts_from_the_beginning(store, caplog):
    assert loading.snapshot_start(Snapshot(), PRODUCT, P) is loading.FROM_SCRATCH
    with caplog.at_level(logging.WARNING, logger="infra.loading"):
        unreadable = loading.snapshot_start(Snapshot(3, {"not": "a product"}, "c-3"), PRODUCT, P)
    assert unreadable is loading.FROM_SCRATCH
    assert f"ignoring an unreadable snapshot of {P}" in caplog.text
