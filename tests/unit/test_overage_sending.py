"""The sender's pacing and backoff, on a fake clock."""

from __future__ import annotations

import pytest

from aether_web.services.invoicing.sending import RetryPolicy, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_then_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=5, clock=clock)
    assert [bucket.wait_time() for _ in range(5)] == [0.0] * 5
    wait = bucket.wait_time()
    assert wait == pytest.approx(0.01)  # one token per 1/100 s
    clock.now += wait
    assert bucket.wait_time() == 0.0
    # over one simulated second at most rate + burst calls get through
    taken, start = 0, clock.now
    while clock.now < start + 1.0:
        wait = bucket.wait_time()
        if wait == 0:
            taken += 1
        else:
            clock.now += wait
    assert 100 <= taken <= 105


def test_an_idle_bucket_refills_only_up_to_its_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate=900, clock=clock)
    assert bucket.burst == 45
    clock.now += 3600
    allowed = 0
    while bucket.wait_time() == 0:
        allowed += 1
    assert allowed == 45


def test_the_bucket_refuses_a_zero_rate():
    with pytest.raises(ValueError):
        TokenBucket(rate=0)


def test_backoff_grows_to_its_cap_with_jitter_in_the_upper_half():
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=30)
    assert [policy.delay(n, lambda: 0.0) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]
    assert [policy.delay(n, lambda: 1.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert policy.delay(20, lambda: 1.0) == 30 and policy.delay(20, lambda: 0.0) == 15
