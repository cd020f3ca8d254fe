"""Reading a command's JSON body: the checks every command route shares."""

from __future__ import annotations

import json
from typing import Any

import falcon
from marshmallow import Schema, ValidationError

from web.problems import Problem

MAX_BODY_BYTES = 64 * 1024


def load(req: falcon.Request, schema: Schema) -> dict[str, Any]:
    """The body, parsed and validated by ``schema``.

    Raises:
      Problem: 415 not JSON, 413 over 64 KiB, 400 malformed, 422 invalid.
    """
    media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise Problem(
            falcon.HTTP_415,
            title="Unsupported Media Type",
            detail="send the body as application/json",
        )
    if req.content_length is not None and req.content_length > MAX_BODY_BYTES:
        raise _too_large()
    raw = req.bounded_stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(falcon.HTTP_400, title="Malformed JSON", detail=str(exc)) from None
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise Problem(
            falcon.HTTP_422,
            title="Invalid Body",
            detail="the body breaks the rules listed under errors",
            errors=errors_by_field(exc.messages),
        ) from None


def errors_by_field(messages: Any) -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{dotted.field: [message, ...]}``."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                name = "body" if key == "_schema" else str(key)
                walk(f"{prefix}.{name}" if prefix else name, value)
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            flat.setdefault(prefix or "body", []).extend(node)
        else:
            flat.setdefault(prefix or "body", []).append(str(node))

    walk("", messages)
    return flat


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_large() -> Problem:
    return Problem(
        falcon.HTTP_413,
        title="Content Too Large",
        detail=f"the body may hold at most {MAX_BODY_BYTES} bytes",
    )
