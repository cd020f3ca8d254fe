"""MongoDB round trips on the happy path, counted with pymongo.monitoring:
at most 3 per command on the write side, at most 2 per projection step."""

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

    def started(self, event):
        self.commands.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def take(self):
        taken, self.commands = self.commands, []
        return taken


@pytest.fixture
def counted(settings, broker, db):
    counter = Counter()
    counted_db = connect(settings, appname="tests-counted", event_listeners=[counter])
    counted_db.command("ping")
    counter.take()
    yield counter, build_services(settings, broker, db=counted_db)
    counted_db.client.close()


def test_round_trips_per_command_and_per_projection_step(counted, capsys):
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
    assert next_projection == ["find", "update"]  # read document, conditional replace
