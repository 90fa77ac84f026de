"""BusyLimit (api/fail_fast.py): past the permits a request waits while the handlers are quick, and
is refused at once when one is slow (a hung dependency). Real threads, no clock asserts."""

from __future__ import annotations

import threading

from api.fail_fast import BusyLimit


def _hold(limit: BusyLimit, entered: threading.Event, release: threading.Event) -> threading.Thread:
    def run() -> None:
        assert limit.try_enter()
        entered.set()
        release.wait(60)
        limit.leave()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert entered.wait(30)
    return thread


def test_past_the_permits_a_request_waits_for_a_quick_handler():
    limit = BusyLimit(wait_s=60, slow_s=60)  # nothing here is "slow": the waiter must get in
    limit.resize(2)  # one permit, one thread kept for the probes
    release = threading.Event()
    holder = _hold(limit, threading.Event(), release)
    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(limit.try_enter()), daemon=True)
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not outcome, "the second request should be waiting for the permit"
    release.set()
    waiter.join(30)
    holder.join(30)
    assert outcome == [True]
    limit.leave()


def test_past_the_permits_a_request_is_refused_when_a_handler_is_slow():
    limit = BusyLimit(wait_s=60, slow_s=0)  # every handler inside counts as slow at once
    limit.resize(2)
    release = threading.Event()
    holder = _hold(limit, threading.Event(), release)
    try:
        assert limit.try_enter() is False  # refused without waiting the 60 s
    finally:
        release.set()
        holder.join(30)
    assert limit.try_enter() is True  # the permit came back
    limit.leave()


def test_unsized_limit_lets_everything_in():
    limit = BusyLimit()
    assert all(limit.try_enter() for _ in range(100))
