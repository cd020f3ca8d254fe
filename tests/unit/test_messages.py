"""The messages that cross Redis: what an envelope carries, and the options
a command's message gets."""

import dataclasses

from domain.commands import CreateProduct, PlaceOrder
from infra.messages import FOLLOW_UP_RETRIES, CommandEnvelope, command_message

ORDER = PlaceOrder(
    order_id="o-1", customer_id="c-1", currency="EUR", lines=[{"product_id": "p-1", "quantity": 2}]
)


def test_an_envelope_carries_what_asdict_would_and_shares_no_container():
    envelope = CommandEnvelope.wrap(ORDER, command_id="c-1", causation_id="c-0", origin_id="c-0")
    carried = envelope.to_dict()
    assert carried == dataclasses.asdict(envelope)
    assert CommandEnvelope.from_dict(carried) == envelope
    carried["payload"]["lines"][0]["quantity"] = 9
    assert envelope.payload["lines"][0]["quantity"] == 2


def test_a_root_command_is_carried_as_the_release_before_wrote_it_and_later_fields_are_left_out():
    root = CommandEnvelope.wrap(ORDER, command_id="c-1")
    carried = root.to_dict()
    assert "origin_id" not in carried and root.origin == "c-1"
    assert CommandEnvelope.from_dict({**carried, "added_later": 1}) == root
    assert CommandEnvelope.wrap(ORDER, command_id="c-2", origin_id="c-1").origin == "c-1"


def test_a_command_message_keeps_its_options_beside_its_retry_policy():
    created = CommandEnvelope.wrap(CreateProduct("p-1", "S-1", "mug", 100, "EUR"), command_id="c-1")
    assert command_message(created).options == {}
    assert command_message(created, redis_message_id="r-1").options == {"redis_message_id": "r-1"}
    follow_up = CommandEnvelope.wrap(ORDER, command_id="c-2", causation_id="c-1")
    options = command_message(follow_up, redis_message_id="r-2").options
    assert options == {**FOLLOW_UP_RETRIES, "redis_message_id": "r-2"}
    assert command_message(follow_up).args == (follow_up.to_dict(),)
