"""InMemorySessionCache: TTL, and invalidation that cannot erase someone else's fresh session."""

from pims_sync.providers.base import SessionCache
from pims_sync.providers.session import InMemorySessionCache


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_ttl_and_isolation_per_clinic():
    clock = Clock()
    cache = InMemorySessionCache(clock=clock)
    assert isinstance(cache, SessionCache)
    cache.set("a", {"neo_session": "one"}, ttl_s=10)
    assert cache.get("a") == {"neo_session": "one"} and cache.get("b") is None
    clock.now = 10
    assert cache.get("a") is None
    assert "one" not in repr(cache)


def test_invalidate_only_the_session_that_failed():
    cache = InMemorySessionCache()
    cache.set("a", {"neo_session": "fresh"}, ttl_s=60)
    cache.invalidate("a", {"neo_session": "dead"})  # a worker with an older session
    assert cache.get("a") == {"neo_session": "fresh"}
    cache.invalidate("a", {"neo_session": "fresh"})
    assert cache.get("a") is None
    cache.set("a", {"neo_session": "x"}, ttl_s=60)
    cache.invalidate("a")
    assert cache.get("a") is None


def test_verified_marks_only_the_stored_session_and_a_new_one_starts_unverified():
    cache = InMemorySessionCache()
    cache.set("a", {"neo_session": "one"}, ttl_s=60)
    assert not cache.is_verified("a", {"neo_session": "one"})
    cache.mark_verified("a", {"neo_session": "stale"})  # not the stored session: ignored
    assert not cache.is_verified("a", {"neo_session": "one"})
    cache.mark_verified("a", {"neo_session": "one"})
    assert cache.is_verified("a", {"neo_session": "one"})
    cache.set("a", {"neo_session": "two"}, ttl_s=60)
    assert not cache.is_verified("a", {"neo_session": "two"}) and not cache.is_verified("a", {"neo_session": "one"})
    cache.mark_verified("a", {"neo_session": "two"})
    cache.invalidate("a")
    assert not cache.is_verified("a", {"neo_session": "two"})
