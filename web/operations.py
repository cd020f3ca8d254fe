"""What a route's method does, as the contract publishes it: a command
(queued, 202), a query (a read model's answer, with ``after=`` and the
freshness headers), or any other operation spelt out.  web.routes declares
each route with these; web.contract renders them into OpenAPI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema

from web import inputs
from web.schemas import AfterQuery


def header(description: str, type_: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": type_}}


def problem(description: str, headers: dict | None = None) -> dict[str, Any]:
    """A response whose body is a problem (RFC 9457)."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        response["headers"] = headers
    return response


def json_body(
    schema: str, description: str, headers: dict | None = None, example: Any = None
) -> dict[str, Any]:
    """A response whose body is the component ``schema``, as JSON."""
    media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
    if example is not None:
        media["example"] = example
    response: dict[str, Any] = {"description": description, "content": {"application/json": media}}
    if headers:
        response["headers"] = headers
    return response


FRESHNESS = {
    "Read-Model-Updated-At": header("newest applied event among what is returned (RFC 3339)"),
    "Read-Model-Lag": header("seconds behind the newest committed event; 0 when caught up"),
    "Read-Model-Stale": header("true when after= ran out of time, or a document is held up"),
    "Preference-Applied": header("wait=<seconds> used for after="),
}
ITEM = {
    **FRESHNESS,
    "ETag": header("the document's version"),
    "Read-Model-Version": header("the document's version"),
}
RETRY_AFTER = {"Retry-After": header("seconds to wait before trying again", "integer")}
#: What any route that needs a token may answer.
COMMON = {
    "401": problem("no token, or an unknown one", {"WWW-Authenticate": header("Bearer")}),
    "403": problem("the token's scope is too small"),
    "405": problem("method not allowed", {"Allow": header("the methods the route allows")}),
    "503": problem("Redis or MongoDB did not answer", RETRY_AFTER),
    # Answered by gunicorn (web.gunicorn_worker), before the app sees the request.
    "414": problem("the request line is over 8190 bytes"),
    "431": problem("over 100 header fields, or one over 8190 bytes"),
}


@dataclass(frozen=True)
class Command:
    """Queues a command and answers 202.  ``accepted`` is the 202's
    example, whose id names its schema (``ProductAccepted`` or
    ``OrderAccepted``); ``body`` names the request's schema, if any.  With
    ``?dry_run=true`` it answers 200 with what it would do (``previewed``
    the example) and queues nothing."""

    summary: str
    tag: str
    accepted: dict[str, Any]
    previewed: dict[str, Any]
    body: str | None = None
    example: dict[str, Any] | None = None
    media_types: tuple[str, ...] = (inputs.JSON,)
    scope: str = "write"

    def render(self) -> dict[str, Any]:
        unsupported = f"the body is not {' or '.join(self.media_types)}"
        if self.media_types == inputs.PATCH_MEDIA_TYPES:
            refused = problem(unsupported, {"Accept-Patch": header("the media types a PATCH may use")})
        else:
            refused = problem(unsupported)
        operation: dict[str, Any] = {
            "tags": [self.tag],
            "summary": self.summary,
            "security": [{"bearer": [self.scope]}],
            "parameters": [
                {
                    "in": "header",
                    "name": "Idempotency-Key",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": "retry safely: "
                    "the same key and request within 24 h get the first 202 again (a dry run ignores it)",
                },
                {
                    "in": "query",
                    "name": "dry_run",
                    "schema": {"type": "boolean", "default": False},
                    "description": "true: decide the command against its stream as it is now and answer "
                    "200 with the events it would commit, or its rejection; nothing is written or queued",
                },
            ],
            "responses": {
                "200": json_body("DryRun", "dry_run=true: what the command would do", example=self.previewed),
                "202": json_body(
                    "ProductAccepted" if "product_id" in self.accepted else "OrderAccepted",
                    "queued; follow it at Location",
                    {
                        "Location": header("/commands/{command_id}"),
                        "Idempotent-Replayed": header("true on a replay"),
                    },
                    self.accepted,
                ),
                "400": problem("malformed JSON, Idempotency-Key or dry_run"),
                "404": problem("not a route, or an id that is not a UUID"),
                "409": problem(
                    "the first request with this Idempotency-Key is still being accepted", RETRY_AFTER
                ),
                "413": problem("the body is over 64 KiB"),
                "415": refused,
                "422": problem("the body breaks a rule (errors names each field)"),
                **COMMON,
                "503": problem(
                    "Redis or MongoDB did not answer, and nothing was queued; or, titled Outcome Unknown, "
                    "Redis went away while queueing: command_id and Location name the command, whose "
                    "status tells whether it was queued (404: it was not)",
                    {
                        **RETRY_AFTER,
                        "Location": header("/commands/{command_id}, when the outcome is unknown"),
                    },
                ),
            },
        }
        if self.body is not None:
            media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{self.body}"}}
            if self.example is not None:
                media["example"] = self.example
            operation["requestBody"] = {"required": True, "content": {t: media for t in self.media_types}}
        return operation


@dataclass(frozen=True)
class Query:
    """Answers from a read model: ``after=`` and ``Prefer: wait`` apply, and
    the freshness headers; an ``item`` also has its ETag and 304."""

    summary: str
    tag: str
    schema: str
    example: dict[str, Any]
    item: bool
    query: type[Schema] = AfterQuery
    scope: str = "read"

    def render(self) -> dict[str, Any]:
        responses: dict[str, Any] = {
            "200": json_body(
                self.schema, "the read model's answer", ITEM if self.item else FRESHNESS, self.example
            ),
            "400": problem("a query parameter is unknown or malformed (errors names it)"),
            "404": problem("not found"),
            **COMMON,
        }
        if self.item:
            responses["304"] = {
                "description": "not modified since If-None-Match",
                "headers": {"ETag": ITEM["ETag"]},
            }
        parameters: list[dict[str, Any]] = [
            {"in": "query", "schema": self.query},
            {
                "in": "header",
                "name": "Prefer",
                "schema": {"type": "string"},
                "description": "wait=<seconds>, at most 10",
            },
        ]
        if self.item:
            parameters.append({"in": "header", "name": "If-None-Match", "schema": {"type": "string"}})
        return {
            "tags": [self.tag],
            "summary": self.summary,
            "security": [{"bearer": [self.scope]}],
            "parameters": parameters,
            "responses": responses,
        }


@dataclass(frozen=True)
class Operation:
    """Any other operation: its responses as OpenAPI has them.  Without a
    ``scope`` it needs no token (platforms probe these)."""

    summary: str
    tag: str
    responses: dict[str, Any] = field(default_factory=dict)
    scope: str | None = None
    #: beside the path's own (OpenAPI parameter objects)
    parameters: list[dict[str, Any]] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        rendered = {
            "tags": [self.tag],
            "summary": self.summary,
            "security": [{"bearer": [self.scope]}] if self.scope else [],
            "responses": self.responses,
        }
        if self.parameters:
            rendered["parameters"] = self.parameters
        return rendered
