"""Per-resource calls on a few threads: in order, stopped by a bug, and never faster than the documented rate."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from moto import mock_aws

from finops.aws.rate import EC2_RATES, Rate, RateLimits, TokenBucket, each


class Clock:
    """A clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_bucket_spends_half_the_documented_burst_then_keeps_to_the_refill_rate() -> None:
    # Given DeleteVolume's documented bucket: 100 tokens, 5 a second
    clock = Clock()
    bucket = TokenBucket(EC2_RATES["DeleteVolume"], clock=clock, sleep=clock.sleep)

    # When 60 deletions are asked for at once
    waited = [bucket.take() for _ in range(60)]

    # Then the first 50 go at once, and the next 10 one every 0.2 s
    assert waited[:50] == [0.0] * 50
    assert waited[50:] == pytest.approx([0.2] * 10)
    assert clock.now == pytest.approx(2.0)


def test_a_bucket_refills_while_nobody_calls() -> None:
    clock = Clock()
    bucket = TokenBucket(Rate(10, 5), clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.take()

    clock.now += 0.6  # three tokens back

    assert [bucket.take() for _ in range(4)] == pytest.approx([0, 0, 0, 0.2])


def test_threads_sharing_a_bucket_never_take_more_than_it_holds() -> None:
    bucket = TokenBucket(Rate(4, 20), share=1.0)  # the real clock: 4 at once, then one every 50 ms
    began = time.perf_counter()

    each(lambda _: bucket.take(), range(12), workers=6)

    assert time.perf_counter() - began >= 8 * 0.05 * 0.9


def test_limit_counts_only_the_actions_it_has_a_bucket_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    clock = Clock()
    with mock_aws():
        ec2 = RateLimits({"CreateVolume": Rate(4, 1)}, clock=clock, sleep=clock.sleep).limit(
            boto3.client("ec2", region_name="eu-west-1")
        )
        for _ in range(3):
            ec2.create_volume(AvailabilityZone="eu-west-1a", Size=1)
        ec2.describe_volumes()

    assert clock.slept == pytest.approx([1.0])  # the third CreateVolume waited a second; DescribeVolumes never


def test_each_returns_the_results_in_the_order_of_the_items_from_several_threads() -> None:
    threads: set[str] = set()

    def slow_square(n: int) -> int:
        threads.add(threading.current_thread().name)
        time.sleep(0.02 * (5 - n % 5))  # later items finish first
        return n * n

    assert each(slow_square, range(10), workers=4) == [n * n for n in range(10)]
    assert len(threads) == 4


def test_a_bug_in_one_call_stops_the_calls_not_yet_begun() -> None:
    called: list[int] = []

    def call(n: int) -> int:
        called.append(n)
        time.sleep(0.05)
        if n == 1:
            raise KeyError("a bug")
        return n

    with pytest.raises(KeyError):
        each(call, range(20), workers=2)

    time.sleep(0.2)
    assert len(called) < 6  # the two under way, and at most the few begun before the bug was seen; never all 20


def test_one_worker_is_a_plain_loop() -> None:
    seen: list[str] = []

    each(lambda _: seen.append(threading.current_thread().name), range(3), workers=1)

    assert set(seen) == {threading.current_thread().name}


def test_every_per_resource_action_of_the_clean_up_has_its_documented_rate() -> None:
    from finops.services.cleanup.apply import PERMISSIONS

    per_resource = {"CreateSnapshot", "DeleteSnapshot", "DeleteVolume", "CreateTags"}
    assert per_resource <= {p.removeprefix("ec2:") for p in PERMISSIONS}
    assert per_resource | {"DescribeSnapshotAttribute"} == set(EC2_RATES)
    assert all(rate.per_second <= 20 and rate.capacity <= 100 for rate in EC2_RATES.values())
