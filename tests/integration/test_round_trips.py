"""MongoDB round trips on the happy path, counted with pymongo.monitoring:
at most 3 per command on the write side, at most 2 per projection step (1
when the projector wrote the version before)."""

import time

import pytest
from pymongo import monitoring

from domain.commands import AdjustStock, CreateProduct, UpdateProduct
from infra.messages import CommandEnvelope, notification
from infra.mongo import connect
from workers.bootstrap import build_services

PRODUCT = "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"


class Counter(monitoring.CommandListener):
    def __init__(self):
        self.commands = []
        self.sent = []

    def started(self, event):
        self.commands.append(event.command_name)
        self.sent.append(event.command)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def take(self):
        taken, self.commands, self.sent = self.commands, [], []
        return taken


@pytest.fixture
def counted(settings, broker, db):
    counter = Counter()
    counted_db = connect(settings, appname="tests-counted", event_listeners=[counter])
    counted_db.command("ping")
    services = build_services(settings, broker, db=counted_db)
    # Processes cache which collection holds each read model for a second:
    # that read is shared by every message of that second, not paid per step.
    services.projector._generations.ttl_s = 3600
    for name in ("products", "orders"):
        services.projector._generations.pointer(name)
    counter.take()
    yield counter, services
    counted_db.client.close()


def test_round_trips_per_command_and_per_projection_step(counted, settings, broker, capsys):
    counter, services = counted
    create = CommandEnvelope.wrap(
        CreateProduct(product_id=PRODUCT, sku="MUG-1", name="Mug", price_cents=1250, currency="EUR"),
        command_id="c1",
    )
    created = services.commands.handle(create).commit
    create_trips = counter.take()

    services.projector.project(notification(created))
    first_projection = counter.take()

    adjust = CommandEnvelope.wrap(AdjustStock(product_id=PRODUCT, delta=4), command_id="c2")
    adjusted = services.commands.handle(adjust).commit
    adjust_trips = counter.take()

    services.projector.project(notification(adjusted))
    next_projection = counter.take()

    update = CommandEnvelope.wrap(
        UpdateProduct(product_id=PRODUCT, changes={"name": "Big mug", "price_cents": 990}), command_id="c3"
    )
    updated = services.commands.handle(update).commit
    update_trips = counter.take()
    services.projector.project(notification(updated))
    update_projection = counter.take()

    # A projector that did not write the version before reads it first
    fresh = build_services(settings, broker, db=services.adapters.db).projector
    fresh._generations.ttl_s = 3600
    for name in ("products", "orders"):
        fresh._generations.pointer(name)
    counter.take()
    restocked = services.commands.handle(
        CommandEnvelope.wrap(AdjustStock(product_id=PRODUCT, delta=1), command_id="c4")
    ).commit
    counter.take()
    fresh.project(notification(restocked))
    elsewhere_projection = counter.take()

    with capsys.disabled():
        print(
            f"\nround trips: create {create_trips}, adjust {adjust_trips}, "
            f"update {update_trips}, first projection {first_projection}, "
            f"next projection {next_projection}, two-event projection {update_projection}"
        )
    assert len(create_trips) <= 3 and len(adjust_trips) <= 3 and len(update_trips) <= 3
    assert len(first_projection) <= 2 and len(next_projection) <= 2 and len(update_projection) <= 2
    assert len(updated.events) == 2
    # what the design promises beyond the ceiling
    assert create_trips == ["insert", "insert"]  # SKU claim, commit
    assert adjust_trips == ["find", "insert"]  # load stream, commit
    assert first_projection == ["insert"]
    # the document as this projector wrote it, replaced if still at that version
    assert next_projection == ["update"] and update_projection == ["update"]
    assert elsewhere_projection == ["find", "update"]  # read document, conditional replace


def test_round_trips_and_messages_for_one_order(counted, broker, settings, capsys):
    from domain.commands import PlaceOrder
    from infra.messages import CommandEnvelope as Envelope

    counter, services = counted
    created = services.commands.handle(
        Envelope.wrap(
            CreateProduct(
                product_id=PRODUCT, sku="MUG-1", name="Mug", price_cents=1250, currency="EUR", stock=3
            ),
            command_id="c1",
        )
    )
    services.projector.project(notification(created.commit))
    # Drive the order's whole process by hand, counting as we go.
    broker.client.delete(f"{settings.redis_namespace}:commands", f"{settings.redis_namespace}:projections")
    for queue in ("commands", "projections"):
        broker.client.delete(f"{settings.redis_namespace}:{queue}.msgs")
    counter.take()
    order_id = "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b"
    pending = [
        (
            "command",
            Envelope.wrap(
                PlaceOrder(order_id, "cust", "EUR", [{"product_id": PRODUCT, "quantity": 2}]),
                command_id="c-order",
            ),
        )
    ]
    trips = {"command": [], "projection": []}
    messages = 0
    sent: list = []
    original_prepare = broker.prepare

    def capture(message):
        prepared, step = original_prepare(message)
        sent.append(prepared)
        return prepared, step

    broker.prepare = capture
    try:
        while pending:
            kind, item = pending.pop(0)
            messages += 1
            if kind == "command":
                services.commands.handle(item)
            else:
                services.projector.project(item)
            trips[kind].append(len(counter.take()))
            for message in sent:
                if message.actor_name == "handle_command":
                    pending.append(("command", Envelope.from_dict(message.args[0])))
                else:
                    pending.append(("projection", message.args[0]))
            sent.clear()
    finally:
        broker.prepare = original_prepare
    with capsys.disabled():
        print(f"\none order of one line: {messages} messages, store round trips {trips}")
    assert trips["command"] == [1, 2, 2]  # place; reserve (load, commit); mark reserved (load, commit)
    assert all(n <= 2 for n in trips["projection"]) and len(trips["projection"]) == 3
    assert messages == 6


def test_the_outbox_marks_what_it_swept_by_id_in_one_round_trip(counted, db):
    # By _id, the lookup every server answers from its primary key: a $or of
    # (stream_id, version_from) pairs made the embedded store scan the whole
    # event store once per pair, holding its lock for seconds.
    counter, services = counted
    for i in range(3):
        product = f"{PRODUCT[:-1]}{i}"
        command = CreateProduct(product_id=product, sku=f"OUT-{i}", name="Mug", price_cents=1, currency="EUR")
        services.commands.handle(CommandEnvelope.wrap(command, command_id=f"c-out-{i}"))
    later = time.time() + 60  # past the grace period, and the statuses past the fsync window
    services.outbox._clock = lambda: later
    counter.take()
    assert services.outbox.sweep() == 0  # every one was handed over: marked, not sent again
    updates = [sent for sent in counter.sent if "updates" in sent]
    assert [name for name in counter.commands if name == "update"] == ["update"]
    [statement] = updates[0]["updates"]
    assert list(statement["q"]) == ["_id"] and len(statement["q"]["_id"]["$in"]) == 3
    assert db.commits.count_documents({"dispatched": False}) == 0
