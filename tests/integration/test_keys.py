"""The queue keys ``/metrics`` and the accept script use are where
Dramatiq's Redis broker keeps its queues."""

import dramatiq

from infra.keys import Keys
from infra.messages import COMMANDS_QUEUE


def test_a_message_sent_through_dramatiq_is_where_keys_say(broker, redis_client, settings):
    # Given an actor on the commands queue of the test's namespace
    @dramatiq.actor(broker=broker, queue_name=COMMANDS_QUEUE, actor_name="keys_probe")
    def probe():
        pass

    keys = Keys(settings.redis_namespace)
    # When one message is sent now and one delayed
    now = probe.send()
    probe.send_with_options(delay=60_000)
    # I expect the first on the queue's list and hash, the second in the delay queue's hash
    ids = [raw.decode() for raw in redis_client.lrange(keys.queue(COMMANDS_QUEUE), 0, -1)]
    assert now.options["redis_message_id"] in ids
    assert redis_client.hexists(keys.messages(COMMANDS_QUEUE), now.options["redis_message_id"])
    assert redis_client.hlen(keys.delayed_messages(COMMANDS_QUEUE)) == 1
