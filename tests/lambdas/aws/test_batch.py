"""Bisecting a failed batch call down to the items it failed for."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from finops.aws.batch import bisect, in_batches
from finops.aws.errors import error_text


def refusing(*bad: str):
    """A batch call that fails as a whole when any of ``bad`` is in it, and records each batch it was given."""
    batches: list[list[str]] = []

    def call(items: list[str]) -> int:
        batches.append(items)
        if set(items) & set(bad):
            raise ClientError(
                {"Error": {"Code": "InvalidInstanceID.NotFound", "Message": "no such id"}}, "StopInstances"
            )
        return len(items)

    return call, batches


def test_a_batch_that_goes_through_is_one_call():
    call, batches = refusing()

    result = bisect(["a", "b", "c"], call)

    assert batches == [["a", "b", "c"]]
    assert result.succeeded == [(["a", "b", "c"], 3)]
    assert result.failed == []


@pytest.mark.parametrize("bad", [("a",), ("e",), ("c",), ("b", "g"), ("a", "b", "c", "d", "e", "f", "g", "h")])
def test_each_bad_item_fails_alone_and_every_good_item_goes_through(bad):
    items = list("abcdefgh")
    call, _ = refusing(*bad)

    result = bisect(items, call)

    assert sorted(item for item, _ in result.failed) == sorted(bad)
    assert all(error_text(err) == "InvalidInstanceID.NotFound: no such id" for _, err in result.failed)
    assert sorted(item for done, _ in result.succeeded for item in done) == sorted(set(items) - set(bad))


def test_one_bad_item_in_fifty_costs_a_handful_of_calls_not_fifty():
    items = [f"i-{n:02}" for n in range(50)]
    call, batches = refusing("i-17")

    bisect(items, call)

    assert len(batches) <= 2 * 6 + 1  # halves down to one item: about 2 x log2(50) calls


def test_nothing_to_do_is_no_call():
    call, batches = refusing()
    assert bisect([], call).succeeded == []
    assert batches == []


def test_an_error_that_is_not_from_the_api_propagates():
    def broken(items: list[str]) -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        bisect(["a", "b"], broken)


def test_batches_keep_the_order_and_the_remainder():
    assert list(in_batches(list(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
