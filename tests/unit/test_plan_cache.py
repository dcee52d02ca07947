"""The server's plan cache: one computation per notebook content, shared by concurrent requests."""

import asyncio

import pytest
from helpers import notebook_dict

from workbench.lab.server.plans import Outcome, PlanCache, plan_outcome, with_members


def test_concurrent_requests_for_the_same_content_compute_once():
    cache = PlanCache()
    calls = []

    async def compute():
        calls.append(1)
        await asyncio.sleep(0.05)
        return Outcome(body="{}")

    async def main():
        key = PlanCache.key("a.ipynb", b"same bytes")
        results = await asyncio.gather(*(cache.get(key, compute) for _ in range(50)))
        assert all(r.body == "{}" for r in results)
        other = await cache.get(PlanCache.key("a.ipynb", b"edited bytes"), compute)
        assert other.body == "{}"

    asyncio.run(main())
    assert len(calls) == 2 and cache.misses == 2 and cache.hits == 49


def test_a_crash_is_not_cached_and_reaches_every_waiter():
    cache = PlanCache()
    attempts = []

    async def crash():
        attempts.append(1)
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    async def main():
        key = PlanCache.key("a.ipynb", b"x")
        results = await asyncio.gather(*(cache.get(key, crash) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        with pytest.raises(RuntimeError):
            await cache.get(key, crash)

    asyncio.run(main())
    assert len(attempts) == 2  # the first flight (shared by three) and the retry


def test_least_recently_used_plans_are_dropped():
    cache = PlanCache(size=2)

    async def main():
        for name in ("a", "b", "a", "c"):  # touching a keeps it; b is the oldest when c arrives
            await cache.get(PlanCache.key(name, b""), lambda: _done())
        assert [k[0] for k in cache._done] == ["a", "c"]

    async def _done():
        return Outcome(body="{}")

    asyncio.run(main())


def test_plan_outcome_is_a_body_or_the_error_of_the_notebook():
    import json

    good = json.dumps(notebook_dict([("x = 1", "task:a"), ("y = x", "task:b")])).encode()
    assert json.loads(plan_outcome(good, "g.ipynb").body)["plan"]["order"] == ["a", "b"]
    bad = json.dumps(notebook_dict([("y = missing", "task:a")])).encode()
    error = plan_outcome(bad, "b.ipynb").error
    assert "missing" in error["message"] and error["location"]["cell"] == 0


def test_members_join_a_cached_reply_without_parsing_it():
    import json

    body = json.dumps({"plan": {"order": ["a"], "note": "a } in a string"}})
    joined = with_members(body, {"pipeline": {"name": "sales_churn"}})
    assert json.loads(joined) == {"plan": {"order": ["a"], "note": "a } in a string"},
                                  "pipeline": {"name": "sales_churn"}}
    assert json.loads(with_members("{}", {"x": 1})) == {"x": 1}
    assert with_members(body, {}) is body
