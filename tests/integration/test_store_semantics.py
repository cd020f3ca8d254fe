"""The MongoDB behaviour the design relies on, checked on whichever server
the suite runs against, and the stand-in's gaps that the design avoids.

A gap test is an expected failure on the embedded stand-in (nx-27017) and
an ordinary test on real MongoDB; ``strict`` makes a fixed gap show up."""

from datetime import UTC, datetime

import pytest
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

T = datetime(2026, 11, 26, 5, 40, 0, 123000, tzinfo=UTC)


@pytest.fixture
def standin(backends):
    return backends.mongo_started is not None


def test_a_compound_unique_index_refuses_a_second_document(db):
    db.t.create_index([("s", ASCENDING), ("v", ASCENDING)], unique=True)
    db.t.insert_one({"s": "a", "v": 1})
    with pytest.raises(DuplicateKeyError):
        db.t.insert_one({"s": "a", "v": 1})
    db.t.insert_one({"s": "b", "v": 1})
    assert db.t.count_documents({}) == 2


def test_a_conditional_replace_matches_only_the_version_it_read(db):
    db.t.insert_one({"_id": "x", "version": 1, "at": T})
    assert db.t.replace_one({"_id": "x", "version": 1}, {"version": 2, "at": T}).matched_count == 1
    assert db.t.replace_one({"_id": "x", "version": 1}, {"version": 3, "at": T}).matched_count == 0
    assert db.t.find_one({"_id": "x"}) == {"_id": "x", "version": 2, "at": T}


def test_insert_and_replace_keep_dates_as_dates(db):
    db.t.insert_one({"_id": "x", "at": T})
    assert db.t.find_one({"_id": "x"})["at"] == T
    db.t.replace_one({"_id": "x"}, {"at": T})
    assert db.t.find_one({"_id": "x"})["at"] == T


def test_gap_set_keeps_dates_as_dates(db, standin, request):
    # Why the projector replaces whole documents instead of using $set.
    if standin:
        request.applymarker(pytest.mark.xfail(strict=True, reason="nx-27017 returns $set dates as strings"))
    db.t.insert_one({"_id": "x", "at": T})
    db.t.update_one({"_id": "x"}, {"$set": {"at": T}})
    assert db.t.find_one({"_id": "x"})["at"] == T


def test_gap_replace_upsert_takes_the_id_from_the_filter(db, standin, request):
    # Why the projector creates a document with insert_one (and its _id
    # index) rather than an upserting replace.
    if standin:
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="nx-27017 upserts a new ObjectId, not the filter _id")
        )
    db.t.insert_one({"_id": "x", "version": 2})
    with pytest.raises(DuplicateKeyError):
        db.t.replace_one({"_id": "x", "version": 1}, {"version": 1}, upsert=True)
    db.t.replace_one({"_id": "y", "version": 0}, {"version": 1}, upsert=True)
    assert sorted(d["_id"] for d in db.t.find()) == ["x", "y"]


def test_gap_a_compound_index_may_hold_id(db, standin, request):
    # Why read models repeat ``_id`` as ``id`` for their sort indexes.
    if standin:
        request.applymarker(pytest.mark.xfail(strict=True, reason="nx-27017 then refuses every insert"))
    db.t.create_index([("name", ASCENDING), ("_id", ASCENDING)])
    db.t.insert_one({"_id": "x", "name": "n"})
    assert db.t.count_documents({}) == 1


def test_gap_dates_compare_to_the_millisecond(db, standin, request):
    # Why sorted lists page on integer epoch milliseconds, not on dates.
    if standin:
        request.applymarker(pytest.mark.xfail(strict=True, reason="nx-27017 compares dates to the second"))
    db.t.insert_many([{"_id": i, "at": T.replace(microsecond=i * 100_000)} for i in range(1, 4)])
    assert [d["_id"] for d in db.t.find({"at": {"$lt": T.replace(microsecond=200_000)}})] == [1]


def test_an_aggregation_matches_integer_millisecond_ranges_exactly(db):
    # What the catch-up relies on: heads of the streams recorded in a window.
    db.t.insert_many([{"s": f"s{i}", "v": i, "ms": 1_000 + i} for i in range(1, 6)])
    found = db.t.aggregate(
        [
            {"$match": {"ms": {"$gte": 1_002, "$lte": 1_004}}},
            {"$group": {"_id": "$s", "v": {"$max": "$v"}}},
        ]
    )
    assert sorted(d["_id"] for d in found) == ["s2", "s3", "s4"]


def test_gap_an_aggregation_matches_date_ranges(db, standin, request):
    # Why the catch-up's window compares ``recorded_ms``, never ``recorded_at``.
    if standin:
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="nx-27017: $lte on dates never matches, $gte always does")
        )
    db.t.insert_many([{"_id": i, "at": T.replace(second=i)} for i in range(1, 6)])
    found = db.t.aggregate(
        [
            {"$match": {"at": {"$gte": T.replace(second=2), "$lte": T.replace(second=4)}}},
            {"$group": {"_id": "$_id"}},
        ]
    )
    assert sorted(d["_id"] for d in found) == [2, 3, 4]
