"""The buckets' one SQL statement does what the pure arithmetic says (token_bucket.take), on
SQLite and PostgreSQL: first take, refill by the time elapsed, the cap, refusal, a clock that
went back, and one bucket per principal and limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth.rate_buckets import BucketKey, RateBuckets, rate_bucket_table
from shared.auth.token_bucket import BucketPolicy, Outcome, first_take, take
from shared.eventstore.database import create_engine, ensure_schema
from shared.eventstore.store import EventStore, store_tables
from shared.settings import Settings

POLICY = BucketPolicy("writes", per_minute=90, burst=3)
KEY = BucketKey("acme", "alice", "writes")
START_MS = 1_800_000_000_000
# milliseconds after the start of each check: a burst, refills, a clock behind, a long pause
CHECKS_MS = [0, 0, 0, 0, 100, 700, 700, 1400, 1300, 1333, 2000, 600_000, 600_000, 600_001]

metadata = MetaData()
table = rate_bucket_table(metadata, "bucket_test")
store = store_tables(metadata, "bucket_test")


@pytest.fixture
async def engine(database: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database)
    await ensure_schema(
        engine, metadata, owner="bucket_test", version=1, schema=database.database_schema
    )
    yield engine
    await engine.dispose()


@pytest.fixture
def buckets(engine: AsyncEngine) -> RateBuckets:
    return RateBuckets(EventStore(engine, store), table)


def expected_outcomes() -> list[Outcome]:
    """What token_bucket says the checks should answer."""
    outcomes, tokens, last_ms = [first_take(POLICY)], POLICY.burst - 1.0, CHECKS_MS[0]
    for at_ms in CHECKS_MS[1:]:
        outcome = take(tokens, at_ms - last_ms, POLICY)
        outcomes.append(outcome)
        tokens, last_ms = outcome.tokens, max(last_ms, at_ms)
    return outcomes


async def test_the_statement_answers_as_the_arithmetic(buckets: RateBuckets) -> None:
    answers = [await buckets.take(KEY, POLICY, START_MS + at_ms) for at_ms in CHECKS_MS]

    expected = expected_outcomes()
    assert [a.granted for a in answers] == [e.granted for e in expected]
    assert [a.tokens for a in answers] == pytest.approx([e.tokens for e in expected])
    # the sequence meets each case: refusals, and a bucket refilled to its cap
    assert {a.granted for a in answers} == {True, False}
    assert answers[-3].tokens == pytest.approx(POLICY.burst - 1)


async def test_each_principal_and_limit_has_one_row_however_many_checks(
    buckets: RateBuckets, engine: AsyncEngine
) -> None:
    keys = [KEY, BucketKey("acme", "bob", "writes"), BucketKey("acme", "alice", "calendars")]
    for at_ms in range(0, 5000, 250):
        for key in keys:
            await buckets.take(key, POLICY, START_MS + at_ms)

    async with engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    assert rows == len(keys)
