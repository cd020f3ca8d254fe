"""SKU claims: one document per SKU, ``_id`` the SKU itself, so that the
``_id`` index keeps SKUs unique across products on any MongoDB deployment
(a unique index over product documents would need a read-then-write)."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from infra.eventstore import now
from infra.mongo import SKU_CLAIMS


@dataclass(frozen=True)
class Claim:
    sku: str
    product_id: str
    command_id: str


class SkuClaims:
    def __init__(self, db: Database):
        self._claims = db[SKU_CLAIMS]

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
        return Claim(sku=sku, product_id=doc["product_id"], command_id=doc["command_id"])

    def take_over(self, stale: Claim, claim: Claim) -> bool:
        """Replace ``stale`` by ``claim``, only if ``stale`` still holds the SKU."""
        result = self._claims.replace_one(
            {"_id": stale.sku, "command_id": stale.command_id}, self._document(claim)
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
            "claimed_at": now(),
        }
