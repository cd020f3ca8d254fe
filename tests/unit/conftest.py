"""The web tier's test client over fakes, and the fake command bus it uses."""

import pytest

from tests.unit.fakes import FakeCommandBus, make_client


@pytest.fixture
def bus():
    return FakeCommandBus()


@pytest.fixture
def client(bus):
    return make_client(command_bus=bus)
