import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Message:
    """A command or an event: a frozen record of primitives, named by its class."""

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
