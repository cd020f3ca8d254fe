"""``CommandHandler`` over fakes, branch by branch: what it records, sends
and answers for each way a command can go (tests/integration/test_commands.py
runs the same handler on the real Redis and store)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from domain.commands import AdjustStock, CreateProduct, MarkLineRefused, ReserveStock, UpdateProduct
from infra.commits import REFUSED, UNCHANGED, Commit, Decision
from infra.messages import CommandEnvelope
from tests.unit.fakes import FakeEventLog, FakeSender, FakeSkuRegistry, FakeSnapshotStore, FakeStatusBook
from workers.handler import CommandHandler, TooManyConflicts

PRODUCT = "0b7d1f9e-8a55-4a3b-9d35-2f1f2a5b7c01"
ORDER = "7d3c2b1a-0f9e-4d8c-b7a6-958473625140"


def create(command_id="c-create", stock=5):
    command = CreateProduct(
        product_id=PRODUCT, sku="MUG-1", name="Mug", price_cents=1250, currency="EUR", stock=stock
    )
    return CommandEnvelope.wrap(command, command_id=command_id)


def adjust(delta, command_id):
    return CommandEnvelope.wrap(AdjustStock(product_id=PRODUCT, delta=delta), command_id=command_id)


@dataclass
class Rig:
    store: FakeEventLog
    skus: FakeSkuRegistry
    sender: FakeSender
    statuses: FakeStatusBook
    slept: list[float]
    handler: CommandHandler

    def status(self, command_id):
        return self.statuses.get(command_id)

    def history(self):
        return [(c.command_id, c.version_from, c.version_to) for c in self.store.load(PRODUCT)]


@pytest.fixture
def rig() -> Rig:
    store, skus, statuses = FakeEventLog(), FakeSkuRegistry(), FakeStatusBook()
    sender = FakeSender(statuses)
    slept: list[float] = []
    handler = CommandHandler(store, skus, sender, statuses, max_conflicts=3, sleep=slept.append)
    return Rig(store, skus, sender, statuses, slept, handler)


# --- decided for the first time ---------------------------------------------------


def test_an_accepted_command_commits_announces_and_succeeds(rig):
    outcome = rig.handler.handle(create())
    assert (outcome.status, outcome.version, outcome.error) == ("succeeded", 1, None)
    assert rig.history() == [("c-create", 1, 1)]
    assert outcome.commit == rig.store.load(PRODUCT)[0]
    assert rig.sender.published == [outcome.commit]
    status = rig.status("c-create")
    assert (status["status"], status["version"], status["stream_id"]) == ("succeeded", 1, PRODUCT)
    assert rig.skus.holder("MUG-1").command_id == "c-create"


def test_a_refused_command_is_recorded_as_rejected_and_changes_nothing(rig):
    rig.handler.handle(create())
    outcome = rig.handler.handle(adjust(-9, "c-take"))
    assert (outcome.status, outcome.version, outcome.error.code) == ("rejected", None, "insufficient_stock")
    decision = rig.store.find_by_command(PRODUCT, "c-take")
    assert isinstance(decision, Decision) and decision.outcome == REFUSED
    assert rig.history() == [("c-create", 1, 1)]
    assert [c.command_id for c in rig.sender.published] == ["c-create"]
    status = rig.status("c-take")
    assert (status["status"], status["error"]["code"]) == ("rejected", "insufficient_stock")


def test_a_refused_reservation_tells_the_order_why(rig):
    rig.handler.handle(create(stock=1))
    reserve = CommandEnvelope.wrap(
        ReserveStock(product_id=PRODUCT, order_id=ORDER, quantity=2, currency="EUR"), command_id="c-reserve"
    )
    assert rig.handler.handle(reserve).status == "rejected"
    [answer] = rig.sender.sent
    assert answer.type == MarkLineRefused.__name__ and answer.stream_id == ORDER
    assert answer.payload["reason"] == "insufficient_stock" and answer.causation_id == "c-reserve"
    # Handled again (its status lost), it sends the same follow-up, which takes effect once.
    del rig.statuses.records["c-reserve"]
    rig.handler.handle(reserve)
    assert [m.command_id for m in rig.sender.sent] == [answer.command_id] * 2
    # Handled again with its status there, it sends nothing: a follow-up
    # sent twice would set its own chain going again
    rig.handler.handle(reserve)
    assert len(rig.sender.sent) == 2


def test_a_command_that_changes_nothing_succeeds_at_the_current_version(rig):
    rig.handler.handle(create())
    unchanged = UpdateProduct(product_id=PRODUCT, changes={"name": "Mug"})
    same = CommandEnvelope.wrap(unchanged, command_id="c-same")
    outcome = rig.handler.handle(same)
    assert (outcome.status, outcome.version) == ("succeeded", 1)
    assert rig.store.find_by_command(PRODUCT, "c-same").outcome == UNCHANGED
    assert rig.history() == [("c-create", 1, 1)] and len(rig.sender.published) == 1


# --- delivered again ----------------------------------------------------------------


def test_redelivered_after_success_it_finds_its_commit_and_hands_nothing_over_again(rig):
    first = rig.handler.handle(create())
    outcome = rig.handler.handle(create())
    # The store finds the one commit; the final status, written with the
    # handover, says it was handed over: nothing is sent twice
    assert (outcome.status, outcome.version) == ("succeeded", 1)
    assert rig.history() == [("c-create", 1, 1)]
    assert rig.sender.published == [first.commit] and outcome.follow_ups == ()


def test_redelivered_after_a_crash_past_the_commit_it_hands_the_same_commit_over(rig):
    # Given a delivery that committed, then died before announcing it
    rig.sender.down = True
    with pytest.raises(ConnectionError):
        rig.handler.handle(create())
    assert rig.history() == [("c-create", 1, 1)] and rig.status("c-create") is None
    # When the message comes again
    rig.sender.down = False
    outcome = rig.handler.handle(create())
    # I expect the one commit announced, then the status written
    assert (outcome.status, outcome.version) == ("succeeded", 1)
    assert rig.history() == [("c-create", 1, 1)]
    assert rig.sender.published == [outcome.commit]
    assert rig.status("c-create")["status"] == "succeeded"


def test_redelivered_after_rejection_it_stays_rejected(rig):
    rig.handler.handle(create())
    assert rig.handler.handle(adjust(-9, "c-take")).status == "rejected"
    # stock arrives, then the refused message comes again
    rig.handler.handle(adjust(10, "c-delivery"))
    assert rig.handler.handle(adjust(-9, "c-take")).status == "rejected"
    assert rig.history() == [("c-create", 1, 1), ("c-delivery", 2, 2)]


def test_redelivered_after_rejection_whose_status_was_lost_the_recorded_refusal_stands(rig):
    rig.handler.handle(create())
    rig.handler.handle(adjust(-9, "c-take"))
    rig.handler.handle(adjust(10, "c-delivery"))
    del rig.statuses.records["c-take"]
    # Against the new stock it would pass; the store keeps one decision per command.
    outcome = rig.handler.handle(adjust(-9, "c-take"))
    assert (outcome.status, outcome.error.code) == ("rejected", "insufficient_stock")
    assert rig.status("c-take")["status"] == "rejected"
    assert rig.history() == [("c-create", 1, 1), ("c-delivery", 2, 2)]


# --- racing writers ------------------------------------------------------------------


def test_a_conflict_reloads_and_decides_again(rig):
    rig.handler.handle(create())
    other = CommandHandler(rig.store, rig.skus, rig.sender, rig.statuses, sleep=rig.slept.append)
    # Given another writer that commits between our load and our append
    rig.store.racers.append(lambda: other.handle(adjust(3, "c-other")))
    outcome = rig.handler.handle(adjust(-2, "c-mine"))
    # I expect ours to land after it, once, after one pause
    assert (outcome.status, outcome.version) == ("succeeded", 3)
    assert rig.history() == [("c-create", 1, 1), ("c-other", 2, 2), ("c-mine", 3, 3)]
    assert len(rig.slept) == 1 and rig.store.appends == 3


def test_a_conflict_is_decided_against_the_new_state(rig):
    rig.handler.handle(create())
    other = CommandHandler(rig.store, rig.skus, rig.sender, rig.statuses, sleep=rig.slept.append)
    rig.store.racers.append(lambda: other.handle(adjust(-3, "c-first")))
    # Both take 3 of 5: the loser is refused on reload, nothing is oversold.
    assert rig.handler.handle(adjust(-3, "c-second")).status == "rejected"
    assert rig.history() == [("c-create", 1, 1), ("c-first", 2, 2)]


def test_a_stream_that_keeps_moving_gives_up_for_the_broker_to_retry(rig):
    rig.handler.handle(create())
    other = CommandHandler(rig.store, rig.skus, rig.sender, rig.statuses, sleep=rig.slept.append)
    rig.store.racers.extend(lambda i=i: other.handle(adjust(1, f"c-other-{i}")) for i in range(3))
    with pytest.raises(TooManyConflicts):
        rig.handler.handle(adjust(1, "c-mine"))
    assert len(rig.slept) == 3 and rig.store.find_by_command(PRODUCT, "c-mine") is None
    assert rig.status("c-mine") is None


# --- retries run out -----------------------------------------------------------------


def test_giving_up_after_the_commit_landed_hands_it_over_and_reports_success(rig):
    rig.sender.down = True
    with pytest.raises(ConnectionError):
        rig.handler.handle(create())
    rig.sender.down = False
    rig.handler.give_up(create(), ConnectionError("broker down"))
    status = rig.status("c-create")
    assert (status["status"], status["version"]) == ("succeeded", 1)
    assert [c.command_id for c in rig.sender.published] == ["c-create"]
    assert rig.skus.holder("MUG-1").command_id == "c-create"


def test_giving_up_when_the_commit_still_cannot_be_handed_over_leaves_it_to_the_outbox(rig):
    rig.sender.down = True
    with pytest.raises(ConnectionError):
        rig.handler.handle(create())
    rig.handler.give_up(create(), ConnectionError("broker down"))
    # No status says failed: the commit landed, and the outbox sweep finishes it.
    assert rig.status("c-create") is None and isinstance(rig.store.load(PRODUCT)[0], Commit)


def test_giving_up_without_a_commit_reports_failed_and_keeps_the_sku_claimed(rig):
    # Given a create that claimed its SKU, then could not append
    class Unwritable(FakeEventLog):
        def append(self, commit):
            raise ConnectionError("store down")

    handler = CommandHandler(Unwritable(), rig.skus, rig.sender, rig.statuses)
    with pytest.raises(ConnectionError):
        handler.handle(create())
    # When its retries run out
    handler.give_up(create(), ConnectionError("store down"))
    # I expect it failed, with the reason, and its SKU still held (a delivery may yet commit)
    status = rig.status("c-create")
    assert (status["status"], status["error"]) == (
        "failed",
        {"code": "failed", "detail": "ConnectionError: store down"},
    )
    assert rig.skus.holder("MUG-1").command_id == "c-create" and rig.sender.published == []


def test_giving_up_with_the_store_unreachable_reports_failed(rig):
    class Unreachable(FakeEventLog):
        def find_by_command(self, stream_id, command_id):
            raise ConnectionError("store down")

    CommandHandler(Unreachable(), rig.skus, rig.sender, rig.statuses).give_up(
        create(), TimeoutError("no answer")
    )
    assert rig.status("c-create")["error"]["detail"] == "TimeoutError: no answer"


# --- loads that start from what the handler remembers -----------------------------


def test_a_command_delivered_again_after_its_stream_moved_on_adopts_its_first_decision(rig):
    # Its commit lies before the state the handler remembers, so its load
    # does not see it: the store's (stream_id, command_id) index does.
    rig.handler.handle(create(stock=5))
    first = rig.handler.handle(adjust(-5, "c-take"))
    rig.handler.handle(adjust(2, "c-more"))
    rig.store.loads.clear()
    again = rig.handler.handle(adjust(-5, "c-take"))  # 2 in stock now: decided afresh, it would fail
    assert (again.status, again.version) == ("succeeded", first.version)
    # only what came after the remembered version (and the commit that reached it, checked)
    assert rig.store.loads == [(PRODUCT, 2)]
    assert rig.history() == [("c-create", 1, 1), ("c-take", 2, 2), ("c-more", 3, 3)]


def test_a_handler_that_remembers_nothing_loads_the_whole_stream(rig):
    forgetful = CommandHandler(rig.store, rig.skus, rig.sender, rig.statuses, remembered=0)
    forgetful.handle(create())
    forgetful.handle(adjust(1, "c-1"))
    rig.store.loads.clear()
    forgetful.handle(adjust(1, "c-2"))
    assert rig.store.loads == [(PRODUCT, 0)]


def test_with_snapshots_a_load_replays_at_most_every_events(rig):
    snapshots = FakeSnapshotStore()
    handler = CommandHandler(
        rig.store, rig.skus, rig.sender, rig.statuses,
        snapshots=snapshots, snapshot_every={"product": 3}, remembered=0,
    )  # fmt: skip
    handler.handle(create())
    for i in range(10):
        handler.handle(adjust(1, f"c-{i}"))
    # Once 3 events came after the snapshot, a command keeps a new one: each
    # load reads the commit that reached the snapshot (checked) and at most
    # 2 more.
    assert [after + 1 if after else 0 for _, after in rig.store.loads] == [0, 0, 3, 3, 3, 6, 6, 6, 9, 9]
    kept = snapshots.kept[PRODUCT]
    assert (kept["version"], kept["state"]["stock_available"]) == (9, 5 + 8)
    # and every decision is the one a full replay makes
    assert handler.handle(adjust(-15, "c-all")).status == "succeeded"
    assert handler.handle(adjust(-1, "c-none-left")).status == "rejected"
