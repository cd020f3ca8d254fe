"""``after=`` against the real Redis and store: a waiting request wakes on
the projector's signal, not on a polling timer."""

import threading
import time
from dataclasses import replace

from falcon import testing

from domain.commands import CreateProduct
from infra.messages import CommandEnvelope, notification
from web.app import create_app
from web.bootstrap import build_adapters
from web.views import ReadModelVersions

MUG = "88888888-8888-4888-8888-888888888888"


class CountingVersions(ReadModelVersions):
    reads = 0

    def __call__(self, stream_type, stream_id):
        CountingVersions.reads += 1
        return super().__call__(stream_type, stream_id)


def test_after_waits_for_the_projection_and_wakes_on_its_signal(settings, services, db):
    command_id = "99999999-9999-4999-8999-999999999999"
    versions = CountingVersions(db)
    CountingVersions.reads = 0
    anonymous = replace(settings, allow_anonymous=True)
    client = testing.TestClient(create_app(anonymous, replace(build_adapters(anonymous), versions=versions)))
    envelope = CommandEnvelope.wrap(
        CreateProduct(MUG, "MUG", "Mug", 5, "EUR", stock=1), command_id=command_id
    )
    services.commands._statuses.accept(envelope)
    created = services.commands.handle(envelope)
    threading.Timer(1.0, lambda: services.projector.project(notification(created.commit))).start()
    started = time.monotonic()
    answer = client.simulate_get(
        f"/products/{MUG}", params={"after": command_id}, headers={"Prefer": "wait=5"}
    )
    elapsed = time.monotonic() - started
    assert answer.status_code == 200 and answer.json["version"] == 1
    assert answer.headers["Read-Model-Stale"] == "false"
    # woken by the signal at ~1.0 s: the back-off timer alone would look at ~1.5 s
    assert 1.0 <= elapsed < 1.35, elapsed
    assert CountingVersions.reads <= 6
