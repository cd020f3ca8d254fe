"""The end every command route shares: queue the command (at most once per
``Idempotency-Key``) and answer ``202`` with where to follow it; or, with
``?dry_run=true``, answer what it would do and queue nothing."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import falcon

from infra.commandbus import IdempotencyRequest, NotQueued, OutcomeUnknown, QueueFull
from infra.idempotency import KeyInFlight, KeyReused, fingerprint
from infra.messages import CommandEnvelope
from infra.tracing import annotate
from web import dryrun, inputs
from web.metrics import COMMANDS_ACCEPTED
from web.problems import Problem

log = logging.getLogger(__name__)

#: Whose Idempotency-Key a request's is when nobody authenticated.
ANONYMOUS = "anonymous"


def accept(
    req: falcon.Request,
    resp: falcon.Response,
    commands,
    decisions,
    envelope: CommandEnvelope,
    response: dict[str, Any],
    sent: Any,
) -> None:
    """Queue ``envelope`` and answer ``202 response``; ``sent`` is the body
    as the client sent it, which a reused key must match.  A dry run is
    decided by ``decisions`` and claims no key."""
    key = inputs.idempotency_key(req)
    if inputs.dry_run(req):
        dryrun.answer(resp, decisions, envelope)
        return
    # The request's id follows the command (and what it sets off) in the logs.
    request_id = getattr(req.context, "request_id", None)
    if request_id is not None:
        envelope = dataclasses.replace(envelope, correlation_id=request_id)
    req.context.command_id = envelope.command_id
    annotate(attributes={"shop.command.id": envelope.command_id, "shop.command.type": envelope.type})
    idempotency = None
    if key is not None:
        # A key is its caller's own: another token's request with it is another request.
        principal = getattr(req.context, "principal", None)
        scope = principal.id if principal is not None else ANONYMOUS
        idempotency = IdempotencyRequest(scope, key, fingerprint(req.method, req.path, sent))
    try:
        accepted = commands.submit(envelope, response, idempotency)
    except KeyReused:
        raise Problem(
            falcon.HTTP_422,
            title="Idempotency-Key Reused",
            detail="this Idempotency-Key was used for a different request",
            errors={"Idempotency-Key": ["was used with another method, path or body"]},
        ) from None
    except QueueFull as full:
        raise Problem(
            falcon.HTTP_503,
            title="Too Busy",
            detail=f"the service is behind ({full}); nothing was queued, try again shortly",
            headers={"Retry-After": "10"},
        ) from None
    except NotQueued:
        raise Problem(
            falcon.HTTP_503,
            title="Service Unavailable",
            detail="Redis did not take the command; nothing was queued, try again shortly",
            headers={"Retry-After": "5"},
        ) from None
    except OutcomeUnknown as unknown:
        # Redis went away mid-call: the command may or may not be queued.
        # Its status says which once Redis is back (404: it was not).
        raise Problem(
            falcon.HTTP_503,
            title="Outcome Unknown",
            detail="Redis went away while the command was being queued; "
            "its status tells whether it was (404: it was not)",
            headers={"Retry-After": "5", "Location": f"/commands/{unknown.command_id}"},
            command_id=unknown.command_id,
        ) from None
    except KeyInFlight:
        raise Problem(
            falcon.HTTP_409,
            title="Request In Progress",
            detail="the first request with this Idempotency-Key is still being accepted",
            headers={"Retry-After": "1"},
        ) from None
    # Said by the request's one log line (web.requestlog).
    req.context.command_id = accepted.response["command_id"]
    req.context.queued = (envelope.type, accepted.replayed)
    if not accepted.replayed:
        COMMANDS_ACCEPTED.labels(type=envelope.type).inc()
    resp.status = falcon.HTTP_202
    resp.location = f"/commands/{accepted.response['command_id']}"
    resp.media = accepted.response
    if accepted.replayed:
        resp.set_header("Idempotent-Replayed", "true")
