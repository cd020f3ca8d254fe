"""Reading requests: a command's JSON body, a query string, the
``Idempotency-Key`` header and ``dry_run``; the checks every route shares."""

from __future__ import annotations

import json
import re
from typing import Any

import falcon
from marshmallow import Schema, ValidationError

from web.problems import Problem

MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"
#: RFC 7396: what ``PATCH`` bodies mean here already.
MERGE_PATCH = "application/merge-patch+json"
PATCH_MEDIA_TYPES = (JSON, MERGE_PATCH)


def body(
    req: falcon.Request, schema: Schema, media_types: tuple[str, ...] = (JSON,)
) -> tuple[dict[str, Any], Any]:
    """The body validated by ``schema``, and the JSON as sent.

    Raises:
      Problem: 415 not one of ``media_types``, 413 over 64 KiB, 400
      malformed, 422 invalid.
    """
    media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in media_types:
        raise _unsupported(req, media_types)
    raw = _read(req)
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(falcon.HTTP_400, title="Malformed JSON", detail=str(exc)) from None
    except RecursionError:
        raise Problem(
            falcon.HTTP_400, title="Malformed JSON", detail="the JSON is nested too deeply"
        ) from None
    try:
        return schema.load(data), data
    except ValidationError as exc:
        raise Problem(
            falcon.HTTP_422,
            title="Invalid Body",
            detail="the body breaks the rules listed under errors",
            errors=errors_by_field(exc.messages),
        ) from None


def query(req: falcon.Request, schema: Schema) -> dict[str, Any]:
    """The query string validated by ``schema``: unknown parameters, repeated
    ones and malformed values are refused.

    Raises:
      Problem: 400, naming each parameter at fault under ``errors``.
    """
    errors: dict[str, list[str]] = {}
    params: dict[str, str] = {}
    for name, value in req.params.items():
        if isinstance(value, list):
            errors[name] = ["must be given once"]
        else:
            params[name] = value
    try:
        loaded = schema.load(params)
    except ValidationError as exc:
        loaded = {}
        for name, messages in errors_by_field(exc.messages).items():
            errors.setdefault(name, []).extend(
                "is not a parameter of this route" if m == "Unknown field." else m for m in messages
            )
    if errors:
        raise invalid_query(errors)
    return loaded


def only(req: falcon.Request, *names: str) -> None:
    """Refuse any query parameter but ``names``, and any given twice: a
    route that reads a few parameters (or none) does not ignore the rest,
    so that a mistyped one (``?dryrun=true``) is not taken for absent.

    Raises:
      Problem: 400, naming each parameter at fault under ``errors``.
    """
    errors = {
        name: ["must be given once"] if isinstance(value, list) else ["is not a parameter of this route"]
        for name, value in req.params.items()
        if isinstance(value, list) or name not in names
    }
    if errors:
        raise invalid_query(errors)


def invalid_query(errors: dict[str, list[str]]) -> Problem:
    return Problem(
        falcon.HTTP_400,
        title="Invalid Query",
        detail="the query string breaks the rules listed under errors",
        errors=errors,
    )


def dry_run(req: falcon.Request) -> bool:
    """``?dry_run=``: ``true`` or ``false`` (absent: false).  A command
    route takes no other parameter.

    Raises:
      Problem: 400 for any other value or parameter, or one given twice.
    """
    only(req, "dry_run")
    value = req.params.get("dry_run")
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise Problem(
        falcon.HTTP_400,
        title="Invalid Query",
        detail="dry_run must be true or false",
        errors={"dry_run": ["must be true or false"]},
    )


IDEMPOTENCY_KEY = re.compile(r'^"?([\x21\x23-\x7e]{1,255})"?\Z')


def idempotency_key(req: falcon.Request) -> str | None:
    """The ``Idempotency-Key`` header: a string of 1-255 visible ASCII
    characters, bare or quoted as the draft's sf-string.

    Raises:
      Problem: 400 for a malformed key.
    """
    raw = req.get_header("Idempotency-Key")
    if raw is None:
        return None
    match = IDEMPOTENCY_KEY.match(raw.strip())
    if not match:
        raise Problem(
            falcon.HTTP_400,
            title="Invalid Idempotency-Key",
            detail="Idempotency-Key must be 1-255 visible ASCII characters",
            errors={"Idempotency-Key": ["must be 1-255 visible ASCII characters"]},
        )
    return match.group(1)


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


def _read(req: falcon.Request) -> bytes:
    """The body, framed by ``Content-Length`` or chunked, read no further
    than one byte past the limit: a large body is refused, not buffered.

    Raises:
      Problem: 413 over 64 KiB.
    """
    if req.content_length is not None:
        if req.content_length > MAX_BODY_BYTES:
            raise _too_large()
        stream = req.bounded_stream
    elif req.env.get("wsgi.input_terminated"):
        # No length (Transfer-Encoding: chunked): a server that marks its
        # input terminated, as gunicorn does, ends the stream with the body.
        stream = req.stream
    else:
        stream = req.bounded_stream  # no body a read could end safely
    pieces: list[bytes] = []
    size = 0
    while size <= MAX_BODY_BYTES:
        piece = stream.read(MAX_BODY_BYTES + 1 - size)
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    if size > MAX_BODY_BYTES:
        raise _too_large()
    return b"".join(pieces)


def _unsupported(req: falcon.Request, media_types: tuple[str, ...]) -> Problem:
    accepted = " or ".join(media_types)
    # RFC 5789: a PATCH refused for its media type says which ones would do.
    headers = {"Accept-Patch": ", ".join(media_types)} if req.method == "PATCH" else None
    return Problem(
        falcon.HTTP_415,
        title="Unsupported Media Type",
        detail=f"send the body as {accepted}",
        headers=headers,
    )


def _too_large() -> Problem:
    return Problem(
        falcon.HTTP_413,
        title="Content Too Large",
        detail=f"the body may hold at most {MAX_BODY_BYTES} bytes",
    )
