"""``GET /events/schemas``: the event catalogue a reader of history needs.
Every event type, each schema version it has been stored in, and a JSON
Schema (2020-12) of the ``data`` of each, generated from the dataclasses
the code reads them with (``domain/events.py`` for today's shapes,
``domain/upcasting.py`` for the older ones)."""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any

import falcon

from domain.events import EVENTS
from domain.upcasting import current_schema, shapes

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(shape: type, title: str) -> dict[str, Any]:
    """A JSON Schema of the dicts ``shape`` (a dataclass of primitives,
    lists and dicts) is stored as."""
    hints = typing.get_type_hints(shape)
    fields = dataclasses.fields(shape)
    missing = dataclasses.MISSING
    required = [f.name for f in fields if f.default is missing and f.default_factory is missing]
    return {
        "$schema": DIALECT,
        "title": title,
        "type": "object",
        "properties": {f.name: _of(hints[f.name]) for f in fields},
        "required": required,
        "additionalProperties": False,
    }


def _of(hint: Any) -> dict[str, Any]:
    """The JSON Schema of a value of type ``hint``."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        options = [_of(arg) for arg in typing.get_args(hint)]
        return {"anyOf": options}
    if origin is list:
        [item] = typing.get_args(hint) or (Any,)
        return {"type": "array", "items": _of(item)}
    if origin is dict or hint is dict:
        return {"type": "object"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    if hint in simple:
        return {"type": simple[hint]}
    raise TypeError(f"no JSON Schema for {hint!r}")


@cache
def catalogue() -> dict[str, Any]:
    events = []
    for name in sorted(EVENTS):
        versions = [
            {"schema": version, "json_schema": json_schema(shape, f"{name} data, schema {version}")}
            for version, shape in sorted(shapes(name).items())
        ]
        events.append({"type": name, "current_schema": current_schema(name), "schemas": versions})
    return {"events": events}


class EventSchemas:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = catalogue()
