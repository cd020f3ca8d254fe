"""Every fake subclasses the port it stands for and implements each of its
methods, with a signature that accepts every call the port allows; so do
the adapters the composition roots build.  A port that changes breaks
its fakes here at once."""

import inspect

import pytest

from infra.commandbus import CommandBus
from infra.eventstore import EventStore
from infra.handover import Handover
from infra.progress import Progress
from infra.skus import SkuClaims
from infra.statuses import CommandStatuses
from tests.unit import fakes
from web import ports as web_ports
from web.deadletters import Desk
from web.dryrun import StoreDecisions
from web.readings import Readings
from web.views import HistoryViews, OrderViews, ProductViews, ReadModelVersions
from web.waiting import SignalHub, Watch
from workers import ports as worker_ports

#: Dunder methods that belong to a port when it declares them.
CALLED_DUNDERS = {"__call__", "__enter__", "__exit__"}

ADAPTERS = [
    (EventStore, worker_ports.EventLog),
    (SkuClaims, worker_ports.SkuRegistry),
    (Handover, worker_ports.MessageSender),
    (CommandStatuses, worker_ports.StatusBook),
    (CommandStatuses, web_ports.StatusLookup),
    (CommandBus, web_ports.CommandSubmitter),
    (StoreDecisions, web_ports.CommandPreview),
    (ProductViews, web_ports.ProductReadModel),
    (OrderViews, web_ports.OrderReadModel),
    (HistoryViews, web_ports.StreamHistory),
    (Progress, web_ports.StreamProgress),
    (ReadModelVersions, web_ports.ReadModelVersion),
    (SignalHub, web_ports.SignalSource),
    (Watch, web_ports.SignalWatch),
    (Readings, web_ports.StateReadings),
    (Desk, web_ports.DeadLetterDesk),
]


def is_port(cls: type) -> bool:
    return bool(cls.__dict__.get("_is_protocol", False))


def ports_of(module) -> list[type]:
    declared = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__]
    return [cls for cls in declared if is_port(cls)]


PORTS = ports_of(web_ports) + ports_of(worker_ports)
FAKES = [
    cls
    for name, cls in vars(fakes).items()
    if name.startswith("Fake") and isinstance(cls, type) and any(p in cls.__mro__ for p in PORTS)
]


def methods(port: type) -> list[str]:
    return [
        name
        for name, value in vars(port).items()
        if inspect.isfunction(value) and (not name.startswith("_") or name in CALLED_DUNDERS)
    ]


def owner(cls: type, name: str) -> type | None:
    """The class in ``cls``'s MRO that defines ``name``."""
    return next((k for k in cls.__mro__ if name in vars(k)), None)


def incompatibilities(implementation, declared) -> list[str]:
    """How a call that ``declared``'s signature allows could fail on
    ``implementation`` (both plain functions, ``self`` first)."""
    have = inspect.signature(implementation).parameters
    kinds = {p.kind for p in have.values()}
    takes_args = inspect.Parameter.VAR_POSITIONAL in kinds
    takes_kwargs = inspect.Parameter.VAR_KEYWORD in kinds
    positional = [p for p in have.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
    problems = []
    used = set()
    wanted = list(inspect.signature(declared).parameters.values())
    for index, param in enumerate(wanted):
        if param.kind == param.VAR_POSITIONAL:
            if not takes_args:
                problems.append(f"no *{param.name}")
            continue
        if param.kind == param.VAR_KEYWORD:
            if not takes_kwargs:
                problems.append(f"no **{param.name}")
            continue
        if param.kind == param.POSITIONAL_OR_KEYWORD:
            mine = positional[index] if index < len(positional) else None
            if mine is None or mine.name != param.name:
                if not (takes_args and takes_kwargs):
                    problems.append(f"{param.name!r} is not positional parameter {index}")
                continue
        else:  # keyword-only
            mine = have.get(param.name)
            if mine is None or mine.kind not in (mine.POSITIONAL_OR_KEYWORD, mine.KEYWORD_ONLY):
                if not takes_kwargs:
                    problems.append(f"no keyword {param.name!r}")
                continue
        used.add(mine.name)
        if param.default is not param.empty and mine.default is mine.empty:
            problems.append(f"{param.name!r} has no default")
    for extra in have.values():
        if extra.name not in used and extra.kind in (extra.POSITIONAL_OR_KEYWORD, extra.KEYWORD_ONLY):
            if extra.default is extra.empty:
                problems.append(f"{extra.name!r} is required, and the port does not pass it")
    return problems


def check(cls: type, port: type) -> list[str]:
    problems = []
    for name in methods(port):
        defined_by = owner(cls, name)
        if defined_by is None or defined_by is object or is_port(defined_by):
            problems.append(f"{cls.__name__}.{name} is missing (the port's stub would answer None)")
            continue
        problems += [
            f"{cls.__name__}.{name}: {p}" for p in incompatibilities(getattr(cls, name), getattr(port, name))
        ]
    return problems


def test_every_port_declares_methods_and_has_a_fake():
    assert PORTS
    for port in PORTS:
        assert methods(port), port
        assert any(port in fake.__mro__ for fake in FAKES), f"no fake subclasses {port.__name__}"


@pytest.mark.parametrize("fake", FAKES, ids=lambda f: f.__name__)
def test_a_fake_implements_every_method_of_its_ports(fake):
    for port in (p for p in fake.__mro__ if p in PORTS):
        assert check(fake, port) == []


@pytest.mark.parametrize("adapter, port", ADAPTERS, ids=lambda c: c.__name__)
def test_an_adapter_satisfies_the_port_it_is_given_as(adapter, port):
    assert check(adapter, port) == []


def test_the_check_sees_a_missing_method_and_a_changed_signature():
    class Stale(web_ports.ProductReadModel):
        def get(self, stream_id, *, fresh):
            return None

    assert check(Stale, web_ports.ProductReadModel) == [
        "Stale.get: 'fresh' is required, and the port does not pass it",
        "Stale.list is missing (the port's stub would answer None)",
    ]

    class Renamed(web_ports.StatusLookup):
        def get(self, id):
            return None

    assert check(Renamed, web_ports.StatusLookup) == [
        "Renamed.get: 'command_id' is not positional parameter 1",
        "Renamed.get: 'id' is required, and the port does not pass it",
    ]
