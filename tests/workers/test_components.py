"""The worker building blocks on their own: session cache, delivery counter, browser pool."""

from __future__ import annotations

import os
import threading
import time

import pytest

from pims_sync.config import Settings
from pims_sync.crypto import CredentialCipher
from workers.browser_pool import BrowserPool, browser_processes
from workers.deliveries import DeliveryCounter
from workers.runtime import LoginLock
from workers.session_cache import RedisSessionCache

from .helpers import wait_until

KEY = "test-encryption-key-0123456789abcdef"


@pytest.fixture
def cache(worker_redis) -> RedisSessionCache:
    cipher = CredentialCipher.from_settings(Settings(encryption_key=KEY))
    return RedisSessionCache(worker_redis, cipher, ttl_s=30, login_lock_ttl_s=5, login_wait_s=5)


def test_session_cache_stores_cookies_encrypted_with_a_capped_ttl(cache, worker_redis):
    cache.set("c1", {"neo_session": "s3cr3t-cookie-value"}, 3600)
    raw = worker_redis.get(cache.key("c1"))
    assert b"s3cr3t-cookie-value" not in raw and b"neo_session" not in raw
    assert 0 < worker_redis.ttl(cache.key("c1")) <= 30  # never longer than the configured TTL
    assert cache.get("c1") == {"neo_session": "s3cr3t-cookie-value"}
    other_key = RedisSessionCache(worker_redis, CredentialCipher(secret_for=lambda _: "x" * 40), ttl_s=30)
    assert other_key.get("c1") is None  # undecryptable: dropped, not crashed on
    assert cache.get("c1") is None


def test_invalidate_only_drops_the_stale_session(cache):
    cache.set("c1", {"neo_session": "old"})
    cache.set("c1", {"neo_session": "fresh"})  # another worker logged in meanwhile
    assert not cache.invalidate("c1", {"neo_session": "old"})
    assert cache.get("c1") == {"neo_session": "fresh"}
    assert cache.invalidate("c1", {"neo_session": "fresh"})
    assert cache.get("c1") is None


def test_login_lock_lets_one_worker_log_in_while_the_others_wait_and_reuse(cache):
    logins, order = [], []

    def worker(n: int) -> None:
        lock = LoginLock(cache, "c1")  # each "worker" has its own provider and lock object
        with lock:
            if cache.get("c1") is None:  # what IdexxProvider.ensure_session does under the lock
                time.sleep(0.3)  # the Chromium login
                logins.append(n)
                cache.set("c1", {"neo_session": f"from-{n}"})
            order.append(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(logins) == 1 and len(order) == 4


def test_delivery_counter_caps_per_message(worker_redis):
    counter = DeliveryCounter(worker_redis, cap=3)
    counts = [counter.record("t1:0") for _ in range(4)]
    assert counts == [1, 2, 3, 4]
    assert [counter.exceeded(c) for c in counts] == [False, False, False, True]
    assert counter.record("t1:1") == 1  # a retry is a new message
    counter.forget("t1:0")
    assert counter.record("t1:0") == 1


def test_browser_pool_launches_lazily_relaunches_and_gives_memory_back():
    """The pool's browser lives on its own thread, so any thread may ask it for a login."""
    from tests.fixtures.workers import chromium_path

    others = {p.pid for p in browser_processes(os.getpid())}  # e.g. another fixture's browser

    def ours() -> set[int]:
        return {p.pid for p in browser_processes(os.getpid())} - others

    def open_a_context(browser):
        browser.new_context().close()
        return browser, threading.get_ident()

    pool = BrowserPool(executable_path=chromium_path(), idle_close_s=0.5)
    try:
        assert pool.launches == 0 and not ours()  # nothing until first use
        browser, owner = pool.run(open_a_context)
        assert pool.launches == 1 and ours() and owner != threading.get_ident()
        found: list = []
        helper = threading.Thread(target=lambda: found.append(pool.run(open_a_context)))
        helper.start()
        helper.join(60)
        assert found == [(browser, owner)]  # a helper thread gets the same browser, on the same thread
        assert pool.launches == 1
        pool.idle()
        wait_until(lambda: not ours(), 15, "the idle browser to be closed")
        again, _ = pool.run(open_a_context)  # relaunched
        assert pool.launches == 2 and again is not browser
    finally:
        pool.close()
    assert not ours()


def test_session_cache_verified_marker_is_shared_and_per_session(cache, worker_redis):
    cache.set("c1", {"neo_session": "one"}, 60)
    other_worker = RedisSessionCache(worker_redis, cache.cipher, ttl_s=30)
    assert not other_worker.is_verified("c1", {"neo_session": "one"})
    cache.mark_verified("c1", {"neo_session": "stale"})  # not the stored one: ignored
    assert not other_worker.is_verified("c1", {"neo_session": "one"})
    cache.mark_verified("c1", {"neo_session": "one"})
    assert other_worker.is_verified("c1", {"neo_session": "one"})
    assert 0 < worker_redis.pttl(cache.verified_key("c1")) <= 30_000
    assert b"one" not in worker_redis.get(cache.verified_key("c1"))
    cache.set("c1", {"neo_session": "two"}, 60)  # a fresh login starts unverified
    assert not other_worker.is_verified("c1", {"neo_session": "two"})
