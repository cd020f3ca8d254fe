"""Commands' stories on the real Redis and store, told by a real worker:
in order, each step once, and ended when nothing is left to tell."""

from __future__ import annotations

import pytest

from domain.commands import CreateProduct, PlaceOrder
from infra.commandbus import CommandBus
from infra.idempotency import IdempotencyKeys
from infra.messages import CommandEnvelope
from infra.statuses import SUCCEEDED
from infra.steps import Steps
from infra.stories import Entry, Projected, Stories, command_item, projection_item
from tests.integration.test_orders import drain

MUG = "11111111-1111-4111-8111-111111111111"
PLATE = "22222222-2222-4222-8222-222222222222"
ORDER = "33333333-3333-4333-8333-333333333333"


@pytest.fixture
def stories(services):
    return services.adapters.statuses.stories


def events(stories, story_id):
    return [(told.event, told.data) for told in stories.read(story_id)]


def test_an_orders_story_runs_from_its_acceptance_to_its_confirmation(
    settings, services, broker, worker, stories
):
    for product_id, sku, command_id in ((MUG, "MUG", "c-mug"), (PLATE, "PLATE", "c-plate")):
        services.commands.handle(
            CommandEnvelope.wrap(
                CreateProduct(product_id, sku, sku, 500, "EUR", stock=5), command_id=command_id
            )
        )
    bus = CommandBus(
        broker, services.adapters.statuses, IdempotencyKeys(broker.client, namespace=broker.namespace)
    )
    order = PlaceOrder(
        ORDER, "cust-1", "EUR", [{"product_id": MUG, "quantity": 1}, {"product_id": PLATE, "quantity": 2}]
    )
    bus.submit(CommandEnvelope.wrap(order, command_id="c-order"), {})
    drain(broker, worker)

    told = events(stories, "c-order")
    names = [name for name, _ in told]
    assert names[0] == "accepted" and names[-1] == "end"
    assert told[-1][1]["status"] == SUCCEEDED and told[-1][1]["command_id"] == "c-order"
    assert told[1] == (
        "committed",
        {
            "command_id": "c-order",
            "type": "PlaceOrder",
            "stream_id": ORDER,
            "stream_type": "order",
            "version_from": 1,
            "version_to": 1,
            "events": [{"type": "OrderPlaced", "version": 1}],
        },
    )
    follow_ups = [data["follow_up"] for name, data in told if name == "follow_up"]
    reservations = [f for f in follow_ups if f["type"] == "ReserveStock"]
    assert sorted(f["stream_id"] for f in reservations) == sorted([MUG, PLATE])
    assert names.index("follow_up") == 2
    confirmed = [
        i
        for i, (name, data) in enumerate(told)
        if name == "committed" and "OrderConfirmed" in [e["type"] for e in data["events"]]
    ]
    assert len(confirmed) == 1
    # Every command of the chain ended, every commit was projected, before the end.
    commits = {(d["stream_id"], d["version_to"]) for n, d in told if n == "committed"}
    projected = {(d["stream_id"], d["version"]) for n, d in told if n == "projected"}
    assert commits == projected and len(commits) == 5  # the order's 3 commits, a reservation each
    statuses = {d["command_id"]: d["status"] for n, d in told if n == "status"}
    assert set(statuses) == {"c-order", *(f["command_id"] for f in follow_ups)}
    assert set(statuses.values()) == {SUCCEEDED}
    assert told.index(next(t for t in told if t[0] == "projected" and t[1]["stream_id"] == ORDER)) > 2
    # A follow-up's own story tells its own life, and ends too.
    own = events(stories, reservations[0]["command_id"])
    assert [name for name, _ in own][0] == "accepted" and own[0][1]["caused_by"] == "c-order"
    assert [name for name, _ in own][-1] == "end"


def test_a_decision_handed_over_again_is_told_once(services, broker, worker, stories):
    created = CommandEnvelope.wrap(CreateProduct(MUG, "MUG", "Mug", 500, "EUR", stock=5), command_id="c-1")
    services.commands.handle(created)
    drain(broker, worker)
    before = stories.read("c-1")
    commit = services.adapters.store.find_by_command(MUG, "c-1")
    services.commands.dispatch(commit)  # as the outbox sweep does after a crash
    drain(broker, worker)
    assert stories.read("c-1") == before
    assert [t.event for t in before] == ["committed", "status", "projected", "end"]


def test_a_projection_told_before_its_commit_still_counts_and_the_story_ends_once(redis_client, stories):
    steps = Steps(redis_client)
    accepted = stories.step("s-1", [Entry("accepted", {}, "accepted:s-1", (command_item("s-1"),))])
    committed = stories.step(
        "s-1",
        [
            Entry("committed", {"v": 1}, "committed:s-1", (projection_item("p", 1),)),
            Entry(
                "status", {"status": SUCCEEDED}, "status:s-1:succeeded", (), command_item("s-1"), final=True
            ),
        ],
    )
    projected = stories.projected("products", "p", [Projected("s-1", None, 1)])
    # The catch-up projected the commit before its handover was told.
    for step in [accepted, *projected, committed, committed, *projected]:
        steps.run([step])
    told = stories.read("s-1")
    assert [t.event for t in told] == ["accepted", "projected", "committed", "status", "end"]
    assert told[-1].data == {"status": SUCCEEDED}
    assert [t.event for t in stories.read("s-1", told[2].id)] == ["status", "end"]


def test_a_story_does_not_end_before_its_commands_final_status(redis_client, stories):
    steps = Steps(redis_client)
    steps.run(stories.projected("products", "p", [Projected("s-2", None, 1)]))
    steps.run([stories.step("s-2", [Entry("committed", {}, "committed:s-2", (projection_item("p", 1),))])])
    assert [t.event for t in stories.read("s-2")] == ["projected", "committed"]
    steps.run(
        [
            stories.step(
                "s-2", [Entry("status", {"status": "x"}, "status:s-2:x", (), command_item("s-2"), final=True)]
            )
        ]
    )
    assert [t.event for t in stories.read("s-2")][-1] == "end"


def test_a_story_past_its_cap_takes_only_its_end_and_keeps_its_ids(settings, redis_client):
    stories = Stories(redis_client, namespace=settings.redis_namespace, ttl_s=60, max_entries=3)
    steps = Steps(redis_client)
    waits = tuple(command_item(f"f-{i}") for i in range(5))
    steps.run([stories.step("s-3", [Entry("accepted", {}, "accepted:s-3", (command_item("s-3"), *waits))])])
    for i in range(5):
        steps.run(
            [stories.step("s-3", [Entry("status", {"i": i}, f"status:f-{i}", (), command_item(f"f-{i}"))])]
        )
    steps.run(
        [
            stories.step(
                "s-3", [Entry("status", {"own": 1}, "status:s-3", (), command_item("s-3"), final=True)]
            )
        ]
    )
    told = stories.read("s-3")
    assert [(t.id, t.event) for t in told] == [(1, "accepted"), (2, "status"), (3, "status"), (4, "end")]
    assert told[-1].data == {"own": 1}
    assert redis_client.ttl(f"{settings.redis_namespace}:story:s-3") <= 60


def test_a_projection_whose_telling_was_lost_is_told_by_the_next_delivery(services, broker, db, stories):
    from infra.messages import notification
    from workers.projector import Projector

    created = CommandEnvelope.wrap(CreateProduct(MUG, "MUG", "Mug", 500, "EUR", stock=5), command_id="c-lost")
    services.commands.handle(created)
    note = notification(services.adapters.store.find_by_command(MUG, "c-lost"))
    # A delivery wrote the document and died before its acknowledgement,
    # which carried the story's step.
    Projector(services.adapters.store, db, generations=services.adapters.generations).project(note)
    assert [t.event for t in stories.read("c-lost")] == ["committed", "status"]
    # The message comes back: the document has it already, the story is told.
    assert not services.projector.project(note).changed
    assert [t.event for t in stories.read("c-lost")] == ["committed", "status", "projected", "end"]


def test_an_outcome_the_status_record_did_not_take_is_not_told(services, stories):
    created = CommandEnvelope.wrap(CreateProduct(MUG, "MUG", "Mug", 500, "EUR", stock=5), command_id="c-late")
    services.commands.handle(created)  # committed, succeeded; its projection not yet made
    # A late give-up (the store unreachable) says failed: the record keeps
    # succeeded, and so does the story, which still waits for the projection.
    services.adapters.statuses.finish(created, "failed", error={"code": "failed", "detail": "x"})
    assert services.adapters.statuses.get("c-late")["status"] == SUCCEEDED
    assert [(t.event, t.data.get("status")) for t in stories.read("c-late")] == [
        ("committed", None),
        ("status", SUCCEEDED),
    ]
