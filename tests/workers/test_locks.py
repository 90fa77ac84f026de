"""Every lock is one TokenLock: compare-and-delete and compare-and-extend on a real Redis."""

from __future__ import annotations

import ast
from pathlib import Path

import redis

from workers.beat.lock import BeatLock
from workers.enqueue import InFlight
from workers.locks import TokenLock, clinic_lock, running_sync

ROOT = Path(__file__).resolve().parents[2]


def test_a_holder_whose_lock_expired_cannot_renew_or_free_the_new_holders(worker_redis: redis.Redis):
    old = clinic_lock(worker_redis, "c1", sync_id="sync-old", ttl_s=30)
    assert old.acquire()
    worker_redis.delete(old.key)  # as if the TTL ran out while the old holder was paused
    new = clinic_lock(worker_redis, "c1", sync_id="sync-new", ttl_s=30)
    assert new.acquire()
    assert not old.renew() and not old.release()
    assert running_sync(worker_redis, "c1") == "sync-new" and new.owned() and not old.owned()
    assert new.renew() and 25_000 < worker_redis.pttl(new.key) <= 30_000
    assert new.release() and running_sync(worker_redis, "c1") is None


def test_beat_standby_takes_over_only_after_the_active_lock_expires(worker_redis: redis.Redis):
    active = BeatLock(worker_redis, ttl_s=30, key="t:beat", token="beat-a")
    standby = BeatLock(worker_redis, ttl_s=30, key="t:beat", token="beat-b")
    assert active.acquire() and not standby.acquire()
    assert standby.holder() == "beat-a"
    worker_redis.delete("t:beat")  # the active beat paused past its TTL
    assert standby.acquire() and standby.holder() == "beat-b"
    assert not active.renew(), "a paused beat must not extend the standby's lock"
    assert not active.release() and standby.holder() == "beat-b"
    assert standby.release() and standby.holder() is None


def test_the_enqueue_claim_is_freed_only_by_its_own_sync(worker_redis: redis.Redis):
    inflight = InFlight(worker_redis, prefix="t:inflight:")
    assert inflight.claim("c1", "sync-1", ttl_s=60) is None
    assert inflight.claim("c1", "sync-2", ttl_s=60) == "sync-1"
    assert not inflight.release("c1", "sync-2") and inflight.current("c1") == "sync-1"
    assert inflight.release("c1", "sync-1") and inflight.current("c1") is None
    assert inflight.claim("c1", "sync-3", ttl_s=60) is None
    assert 50 < worker_redis.ttl("t:inflight:c1") <= 60


def test_held_deletes_only_the_exact_bytes(worker_redis: redis.Redis):
    worker_redis.set("t:blob", b"\x00\xffciphertext")
    assert not TokenLock.held(worker_redis, "t:blob", b"\x00\xffother").release()
    assert TokenLock.held(worker_redis, "t:blob", b"\x00\xffciphertext").release()
    assert worker_redis.get("t:blob") is None


def test_no_other_module_writes_a_compare_and_act_script():
    """The Lua is written once (workers/locks.py); a second copy is a lock that can disagree."""
    offenders = []
    for path in [*ROOT.glob("workers/**/*.py"), *ROOT.glob("pims_sync/**/*.py"), *ROOT.glob("api/**/*.py")]:
        if path == ROOT / "workers" / "locks.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "redis.call('get', KEYS[1])" in node.value:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
