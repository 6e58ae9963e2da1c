"""The price table behind the scheduler's saving estimate: list prices, never a guess, never another region's."""

from decimal import Decimal

import pytest

from finops.rules.pricing import SERVICES, Saving, estimate_saving, hourly_price, parse_table, price_table

REGIONS = {"eu-west-1", "us-east-1", "eu-central-1", "us-west-2"}


@pytest.mark.parametrize(
    ("service", "size", "region", "price"),
    [
        ("ec2", "m6i.large", "eu-west-1", "0.107"),
        ("ec2", "m6i.large", "us-east-1", "0.096"),
        ("ec2", "t3.micro", "us-east-1", "0.0104"),
        ("ec2", "t3.2xlarge", "us-east-1", "0.3328"),
        ("ec2", "t4g.nano", "eu-central-1", "0.0048"),
        ("ec2", "m7i.large", "us-west-2", "0.1008"),
        ("ec2", "c6g.xlarge", "us-east-1", "0.136"),
        ("ec2", "r6g.large", "eu-west-1", "0.1128"),
        ("rds", "db.t3.micro", "us-east-1", "0.017"),
        ("rds", "db.t4g.medium", "us-east-1", "0.065"),
        ("rds", "db.m6i.xlarge", "eu-west-1", "0.38"),
        ("aurora", "db.r6g.large", "us-east-1", "0.26"),
        ("aurora", "db.t4g.medium", "us-west-2", "0.073"),
    ],
)
def test_known_prices(service, size, region, price):
    assert hourly_price(service, size, region) == Decimal(price)


@pytest.mark.parametrize(
    ("service", "size", "region"),
    [
        ("ec2", "m8x.large", "eu-west-1"),  # a type the table does not list
        ("ec2", "m6i.large", "ap-south-1"),  # a region the table does not list: no fallback to another region
        ("ec2", "M6I.LARGE", "eu-west-1"),  # sizes are exact API names
        ("rds", "m6i.large", "eu-west-1"),  # an EC2 type is not a DB class
        ("ec2", "db.t3.micro", "eu-west-1"),
        ("aurora", "db.m5.large", "us-east-1"),  # Aurora does not offer this class
        ("aurora", "db.t3.micro", "us-east-1"),
    ],
)
def test_unknown_prices_are_none(service, size, region):
    assert hourly_price(service, size, region) is None


def test_aurora_is_priced_apart_from_rds():
    assert hourly_price("aurora", "db.r6g.large", "us-east-1") != hourly_price("rds", "db.r6g.large", "us-east-1")


@pytest.mark.parametrize(
    ("service", "size", "region", "hours", "count", "amount"),
    [
        ("ec2", "m6i.large", "eu-west-1", 60, 1, "6.42"),  # 0.107 x 60
        ("ec2", "t3.medium", "us-east-1", 13.5, 3, "1.68"),  # 0.0416 x 13.5 x 3 = 1.6848
        ("ec2", "t3.nano", "us-east-1", 1, 1, "0.01"),  # 0.0052 rounds half up to a cent
        ("rds", "db.m6i.large", "eu-west-1", 62.5, 1, "11.88"),  # 0.19 x 62.5 = 11.875
        ("aurora", "db.r6g.large", "us-east-1", 12, 2, "6.24"),  # 0.26 x 12 x 2
        ("ec2", "m6i.large", "eu-west-1", 0, 1, "0.00"),
        ("ec2", "m6i.large", "eu-west-1", 60, 0, "0.00"),  # an empty Auto Scaling group saves nothing
    ],
)
def test_saving_is_price_times_hours_times_count(service, size, region, hours, count, amount):
    saving = estimate_saving(service, size, region, hours, count)

    assert saving.amount == Decimal(amount)
    assert saving.hourly == hourly_price(service, size, region)
    assert (saving.hours, saving.count, saving.reason_if_unknown) == (hours, count, None)


@pytest.mark.parametrize(
    ("service", "size", "region", "reason"),
    [
        ("ec2", "m8x.large", "eu-west-1", "EC2 m8x.large is not in the price table"),
        ("rds", "db.t3.micro", "ap-south-1", "no RDS prices for region ap-south-1"),
    ],
)
def test_an_unknown_price_gives_no_amount_and_says_why(service, size, region, reason):
    assert estimate_saving(service, size, region, 60) == Saving(None, 60, None, 1, reason)


@pytest.mark.parametrize(("hours", "count"), [(-1, 1), (10, -1)])
def test_negative_hours_or_counts_are_refused(hours, count):
    with pytest.raises(ValueError, match="must not be negative"):
        estimate_saving("ec2", "m6i.large", "eu-west-1", hours, count)


def test_every_price_is_positive():
    table = price_table()
    prices = [p for regions in table.prices.values() for sizes in regions.values() for p in sizes.values()]

    assert len(prices) > 200
    assert all(p > 0 for p in prices)


@pytest.mark.parametrize("service", SERVICES)
def test_every_region_lists_the_same_sizes(service):
    by_region = price_table().prices[service]

    assert set(by_region) == REGIONS
    first = next(iter(by_region.values()))
    assert {region: set(sizes) for region, sizes in by_region.items()} == {r: set(first) for r in by_region}


def test_the_table_covers_the_common_types():
    ec2 = set(price_table().prices["ec2"]["eu-west-1"])
    rds = set(price_table().prices["rds"]["eu-west-1"])

    for family in ("t3", "t3a", "t4g"):
        assert {f"{family}.{s}" for s in ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge")} <= ec2
    for family in ("m5", "m6i", "m7i", "m6g"):
        assert {f"{family}.{s}" for s in ("large", "xlarge", "2xlarge")} <= ec2
    for family in ("c5", "c6i", "c6g", "r5", "r6i", "r6g"):
        assert {f"{family}.{s}" for s in ("large", "xlarge")} <= ec2
    for family in ("db.t3", "db.t4g"):
        assert {f"{family}.{s}" for s in ("micro", "small", "medium", "large")} <= rds
    for family in ("db.m5", "db.m6g", "db.m6i", "db.r5", "db.r6g", "db.r6i"):
        assert {f"{family}.{s}" for s in ("large", "xlarge")} <= rds


def test_the_header_says_where_the_prices_come_from_and_how_to_refresh_them():
    table = price_table()

    assert table.currency == "USD"
    assert "not re-verified" in table.source.lower()
    assert table.as_of[:4].isdigit()
    assert "GetProducts" in table.note
    assert price_table() is table  # read once


@pytest.mark.parametrize(
    ("prices", "problem"),
    [
        ({"ec2": {"eu-west-1": {"m6i.large": "0"}}}, "prices.ec2.eu-west-1.m6i.large: a price must be positive"),
        ({"ec2": {"eu-west-1": {"m6i.large": 0.107}}}, "write prices as strings"),
        ({"ec2": {"eu-west-1": {"m6i.large": "cheap"}}}, "not a number"),
        ({"lambda": {}}, "prices.lambda: expected one of"),
    ],
)
def test_a_bad_table_fails_with_the_key_path(prices, problem):
    header = {"source": "s", "as_of": "2025-01", "currency": "USD", "note": "n"}

    with pytest.raises(ValueError, match=problem):
        parse_table({**header, "prices": prices}, source="t.json")


def test_a_table_without_its_header_is_refused():
    with pytest.raises(ValueError, match=r"\['source', 'as_of'\]"):
        parse_table({"currency": "USD", "note": "n", "prices": {}}, source="t.json")
