"""``/dead-letters``: the messages no handler could apply (infra/deadletters.py),
and a retry of one.  The web process writes no stream: a retry is queued
for a worker (``retry_dead_letter``), which applies the letter again as
``python -m workers.deadletters retry`` does."""

from __future__ import annotations

import re
from typing import Any

import falcon
import pymongo
from dramatiq import Broker

from infra.deadletters import DeadLetters
from infra.messages import retry_message
from web import inputs, responses
from web.ports import DeadLetterDesk, StateReadings
from web.problems import not_found

#: What a letter's id is made of (``handler:stream_id:ref``).
LETTER_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,200}$"
LETTER_ID = re.compile(LETTER_ID_PATTERN)
#: The most letters an answer lists (the count says how many there are).
LISTED = 100


class Desk:
    """The dead letters as the web process sees them: read from the store
    within ``timeout_s``, retried through the broker."""

    def __init__(self, letters: DeadLetters, broker: Broker, *, timeout_s: float):
        self._letters = letters
        self._broker = broker
        self._timeout_s = timeout_s

    def oldest(self, limit: int) -> list[dict[str, Any]]:
        with pymongo.timeout(self._timeout_s):
            return self._letters.oldest(limit)

    def exists(self, letter_id: str) -> bool:
        with pymongo.timeout(self._timeout_s):
            return self._letters.get(letter_id) is not None

    def queue_retry(self, letter_id: str) -> None:
        self._broker.enqueue(retry_message(letter_id))


def listing(count: int, letters: list[dict[str, Any]]) -> dict[str, Any]:
    """``DeadLetters``: ``count`` (the store's estimate) is never fewer than
    those listed."""
    return responses.DEAD_LETTERS.dump(
        {
            "count": max(count, len(letters)),
            "letters": [{**letter, "id": letter["_id"]} for letter in letters],
        }
    )


class Collection:
    """``GET /dead-letters``: the oldest dead letters, and how many there are."""

    def __init__(self, desk: DeadLetterDesk, readings: StateReadings):
        self._desk = desk
        self._readings = readings

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        inputs.only(req)
        resp.media = listing(self._readings.dead_letters(), self._desk.oldest(LISTED))
        resp.cache_control = ["no-store"]


class Retry:
    """``POST /dead-letters/{letter_id}/retry``: queue the letter for a worker
    to apply again; 202, as the worker decides (the letter goes when it
    succeeds, and stays, one attempt more, when it fails again)."""

    def __init__(self, desk: DeadLetterDesk):
        self._desk = desk

    def on_post(self, req: falcon.Request, resp: falcon.Response, letter_id: str) -> None:
        inputs.only(req)
        if LETTER_ID.fullmatch(letter_id) is None or not self._desk.exists(letter_id):
            raise not_found(f"dead letter {letter_id!r}")
        self._desk.queue_retry(letter_id)
        resp.status = falcon.HTTP_202
        resp.media = {"letter_id": letter_id, "status": "queued"}
