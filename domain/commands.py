"""Commands: requests to change one aggregate, named in the imperative."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from domain.messages import Message


@dataclass(frozen=True)
class Command(Message):
    stream_type: ClassVar[str]

    @property
    def stream_id(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class CreateProduct(Command):
    stream_type: ClassVar[str] = "product"

    product_id: str
    sku: str
    name: str
    price_cents: int
    currency: str
    description: str | None = None
    category: str | None = None
    stock: int = 0

    @property
    def stream_id(self) -> str:
        return self.product_id


@dataclass(frozen=True)
class AdjustStock(Command):
    stream_type: ClassVar[str] = "product"

    product_id: str
    delta: int
    reason: str | None = None

    @property
    def stream_id(self) -> str:
        return self.product_id


@dataclass(frozen=True)
class UpdateProduct(Command):
    """Change any of ``name``, ``description``, ``category``, ``price_cents``:
    ``changes`` holds only the fields the client sent."""

    stream_type: ClassVar[str] = "product"

    product_id: str
    changes: dict[str, Any]

    FIELDS: ClassVar[frozenset[str]] = frozenset({"name", "description", "category", "price_cents"})

    def __post_init__(self):
        unknown = set(self.changes) - self.FIELDS
        if unknown or not self.changes:
            raise ValueError(f"an update changes some of {sorted(self.FIELDS)}, not {sorted(unknown)}")

    @property
    def stream_id(self) -> str:
        return self.product_id


COMMANDS: dict[str, type[Command]] = {c.__name__: c for c in (CreateProduct, UpdateProduct, AdjustStock)}


def command_from_dict(type_name: str, data: dict[str, Any]) -> Command:
    """Rebuild a command from its name and fields (as carried in a message).

    Raises:
      KeyError: the command type is unknown.
    """
    return COMMANDS[type_name](**data)
