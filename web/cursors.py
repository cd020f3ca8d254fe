"""Opaque page cursors: the last item's sort key, bound to the query that
made it and signed, so that a cursor that was altered, or that is sent
with other filters, is refused instead of silently paging wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import falcon

from domain.limits import MAX_INT
from web.problems import Problem
from web.schemas import storable


class InvalidCursor(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sort_value(value: Any) -> bool:
    """A sort value as the service writes them: text MongoDB can hold, or
    a JSON-safe integer (MongoDB holds at most 64 bits)."""
    if isinstance(value, str):
        return storable(value)
    return type(value) is int and abs(value) <= MAX_INT


class Cursors:
    def __init__(self, secret: bytes):
        self._secret = secret

    def _sign(self, data: bytes) -> bytes:
        return hmac.new(self._secret, data, hashlib.sha256).digest()[:16]

    def encode(self, query: dict[str, Any], position: list[Any]) -> str:
        data = json.dumps({"q": query, "p": position}, sort_keys=True, separators=(",", ":"))
        return self.seal(data.encode())

    def following(self, query: dict[str, Any], last: list[Any] | None) -> str | None:
        """The cursor to the page after one whose last sort key is ``last``
        (``None``: no page follows)."""
        return self.encode(query, last) if last is not None else None

    def seal(self, data: bytes) -> str:
        """``data`` and its signature, as cursor text."""
        return f"{_b64(data)}.{_b64(self._sign(data))}"

    def decode(self, cursor: str, query: dict[str, Any]) -> list[Any]:
        """The position ``cursor`` holds, if it was made for ``query``.

        Raises:
          InvalidCursor: altered, forged, or made for another query.
        """
        try:
            data_part, signature_part = cursor.split(".")
            data, signature = _unb64(data_part), _unb64(signature_part)
        except (ValueError, TypeError) as exc:
            raise InvalidCursor("not a cursor this service made") from exc
        if not hmac.compare_digest(signature, self._sign(data)):
            raise InvalidCursor("not a cursor this service made")
        # Even a validly signed cursor is only trusted to hold what this
        # service writes: the secret may have leaked.
        try:
            decoded = json.loads(data)
        except (ValueError, RecursionError):
            raise InvalidCursor("not a cursor this service made") from None
        if not (isinstance(decoded, dict) and decoded.keys() == {"q", "p"}):
            raise InvalidCursor("not a cursor this service made")
        if decoded["q"] != query:
            raise InvalidCursor("the cursor belongs to a query with other filters or sort")
        position = decoded["p"]
        if not (
            isinstance(position, list)
            and len(position) == 2
            and _sort_value(position[0])
            and isinstance(position[1], str)
            and storable(position[1])
        ):
            raise InvalidCursor("not a cursor this service made")
        return position


def page_after(cursors: Cursors, params: dict[str, Any], query: dict[str, Any]) -> list[Any] | None:
    """The position the request's ``cursor`` parameter holds, if any.

    Raises:
      Problem: 400, the cursor was altered or made for another query.
    """
    if "cursor" not in params:
        return None
    try:
        return cursors.decode(params["cursor"], query)
    except InvalidCursor as exc:
        raise Problem(
            falcon.HTTP_400, title="Invalid Query", detail=str(exc), errors={"cursor": [str(exc)]}
        ) from None
