"""SKU claims: one document per SKU, ``_id`` the SKU itself, so that the
``_id`` index keeps SKUs unique across products on any MongoDB deployment
(a unique index over product documents would need a read-then-write)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from infra.mongo import SKU_CLAIMS, durable


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Claim:
    sku: str
    product_id: str
    command_id: str
    #: When the holder last worked on it (epoch ms: an integer, so that it
    #: survives an update on every server).
    claimed_ms: int = field(default_factory=now_ms, compare=False)


class SkuClaims:
    def __init__(self, db: Database):
        self._claims = durable(db, SKU_CLAIMS)

    def insert(self, claim: Claim) -> bool:
        """Claim a free SKU; False when somebody holds it."""
        try:
            self._claims.insert_one(self._document(claim))
        except DuplicateKeyError:
            return False
        return True

    def holder(self, sku: str) -> Claim | None:
        doc = self._claims.find_one({"_id": sku})
        if doc is None:
            return None
        return Claim(sku, doc["product_id"], doc["command_id"], doc.get("claimed_ms", 0))

    def refresh(self, claim: Claim) -> bool:
        """Renew the holder's lease (it is at work on the SKU again), unless
        the claim changed since it was read: False then."""
        result = self._claims.update_one(
            {"_id": claim.sku, "command_id": claim.command_id, "claimed_ms": claim.claimed_ms},
            {"$set": {"claimed_ms": now_ms()}},
        )
        return result.matched_count == 1

    def take_over(self, stale: Claim, claim: Claim) -> bool:
        """Replace ``stale`` by ``claim``, only if ``stale`` still holds the
        SKU and has not renewed its lease since it was read."""
        result = self._claims.replace_one(
            {"_id": stale.sku, "command_id": stale.command_id, "claimed_ms": stale.claimed_ms},
            self._document(claim),
        )
        return result.matched_count == 1

    def release(self, claim: Claim) -> None:
        self._claims.delete_one({"_id": claim.sku, "command_id": claim.command_id})

    @staticmethod
    def _document(claim: Claim) -> dict:
        return {
            "_id": claim.sku,
            "product_id": claim.product_id,
            "command_id": claim.command_id,
            "claimed_ms": claim.claimed_ms,
        }
