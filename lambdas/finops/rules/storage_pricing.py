"""What deleting or migrating EBS storage saves a month: list prices from a small table shipped with the code.

The table (``ebs_prices.json``, next to this module and in the Lambda asset) is read once; its header says where the
figures come from and how old they are. A type or region it does not list has no price (None): callers say "unknown
price", they never guess and never borrow another region's figure.

Snapshots are incremental: deleting one frees only the blocks no other snapshot of the volume needs. The saving of a
snapshot is therefore at most its full size (``FullSnapshotSizeInBytes`` where EC2 reports it, else the volume's
size): an upper bound, and callers say so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources

__all__ = [
    "GP3_BASELINE_IOPS",
    "GP3_BASELINE_THROUGHPUT",
    "StoragePrices",
    "gp3_equivalent",
    "snapshot_monthly",
    "storage_prices",
    "volume_monthly",
]

TABLE_FILE = "ebs_prices.json"
GP3_BASELINE_IOPS = 3000
GP3_BASELINE_THROUGHPUT = 125  # MiB/s
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class StoragePrices:
    source: str
    as_of: str
    note: str
    prices: Mapping[str, Mapping[str, Decimal]]  # region -> item -> USD per unit-month


@cache
def storage_prices() -> StoragePrices:
    data = json.loads(resources.files(__package__).joinpath(TABLE_FILE).read_text(encoding="utf-8"))
    return StoragePrices(
        source=data["source"],
        as_of=data["as_of"],
        note=data["note"],
        prices={region: {k: Decimal(v) for k, v in items.items()} for region, items in data["regions"].items()},
    )


def _price(region: str, item: str) -> Decimal | None:
    return storage_prices().prices.get(region, {}).get(item)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def volume_monthly(
    volume_type: str, size_gb: int, region: str, *, iops: int | None = None, throughput: int | None = None
) -> Decimal | None:
    """A volume's monthly list price: storage, plus provisioned IOPS (io1/io2; gp3 above 3,000) and throughput
    (gp3 above 125 MiB/s). None when the table has no price for the type in the region."""
    storage = _price(region, volume_type)
    if storage is None:
        return None
    total = storage * size_gb
    if volume_type in ("io1", "io2") and iops:
        per_iops = _price(region, f"{volume_type}_iops")
        if per_iops is None:
            return None
        total += per_iops * iops
    if volume_type == "gp3":
        extra_iops = max(0, (iops or GP3_BASELINE_IOPS) - GP3_BASELINE_IOPS)
        extra_throughput = max(0, (throughput or GP3_BASELINE_THROUGHPUT) - GP3_BASELINE_THROUGHPUT)
        if extra_iops or extra_throughput:
            per_iops, per_throughput = _price(region, "gp3_iops"), _price(region, "gp3_throughput")
            if per_iops is None or per_throughput is None:
                return None
            total += per_iops * extra_iops + per_throughput * extra_throughput
    return _cents(total)


def snapshot_monthly(size_gb: float, region: str, *, archive: bool = False) -> Decimal | None:
    """``size_gb`` of snapshot storage a month (standard or archive tier)."""
    price = _price(region, "snapshot_archive" if archive else "snapshot")
    return None if price is None else _cents(price * Decimal(str(size_gb)))


def gp3_equivalent(size_gb: int) -> tuple[int, int]:
    """The gp3 IOPS and throughput that keep at least what a gp2 volume of ``size_gb`` has as its baseline.

    gp2: 3 IOPS per GiB, at least 100 and at most 16,000; throughput up to 128 MiB/s at 170 GiB and below, 250 MiB/s
    above (the larger sizes reach 250 only above 334 GiB, bursting in between: keeping 250 is the safe side). gp3
    includes 3,000 IOPS and 125 MiB/s.
    """
    iops = max(GP3_BASELINE_IOPS, min(16_000, 3 * size_gb))
    throughput = 128 if size_gb <= 170 else 250
    return iops, max(GP3_BASELINE_THROUGHPUT, throughput)
