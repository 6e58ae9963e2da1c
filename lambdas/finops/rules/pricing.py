"""What a stopped resource saves: On-Demand list prices from a small table shipped with the code.

The table (``on_demand_prices.json``, next to this module and in the Lambda asset) is read once. A size or region it
does not list has no price: the caller says "unknown price", it never guesses and never borrows another region's
figure. Its header says where the figures come from, how old they are and how to refresh them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any, Literal

__all__ = ["SERVICES", "PriceTable", "Saving", "Service", "estimate_saving", "hourly_price", "price_table"]

Service = Literal["ec2", "rds", "aurora"]
SERVICES: tuple[Service, ...] = ("ec2", "rds", "aurora")
TABLE_FILE = "on_demand_prices.json"
_CENT = Decimal("0.01")
_LABELS: Mapping[str, str] = {"ec2": "EC2", "rds": "RDS", "aurora": "Aurora"}


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Hourly USD prices by service, region and size, with the header that says how far to trust them."""

    source: str
    as_of: str
    currency: str
    note: str
    prices: Mapping[str, Mapping[str, Mapping[str, Decimal]]]  # service -> region -> size -> hourly

    def regions(self, service: str) -> frozenset[str]:
        return frozenset(self.prices.get(service, {}))


@dataclass(frozen=True, slots=True)
class Saving:
    """An estimate for ``count`` resources of one size over ``hours``; ``amount`` is None when the price is unknown."""

    amount: Decimal | None
    hours: float
    hourly: Decimal | None  # the price of one resource
    count: int = 1
    reason_if_unknown: str | None = None


def hourly_price(service: Service, size: str, region: str) -> Decimal | None:
    """The On-Demand hourly price of one ``size`` in ``region``, or None when the table does not list it."""
    return price_table().prices.get(service, {}).get(region, {}).get(size)


def estimate_saving(service: Service, size: str, region: str, hours: float, count: int = 1) -> Saving:
    """``count`` x ``size`` stopped for ``hours``, at list price, rounded to the cent (half up)."""
    if hours < 0:
        raise ValueError(f"hours must not be negative, got {hours}")
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    hourly = hourly_price(service, size, region)
    if hourly is None:
        return Saving(None, hours, None, count, _why_unknown(service, size, region))
    amount = (hourly * Decimal(str(hours)) * count).quantize(_CENT, rounding=ROUND_HALF_UP)
    return Saving(amount, hours, hourly, count)


def _why_unknown(service: str, size: str, region: str) -> str:
    table = price_table()
    label = _LABELS.get(service, service)
    if service not in table.prices:
        return f"no prices for service {service!r}"
    if region not in table.prices[service]:
        return f"no {label} prices for region {region}"
    return f"{label} {size} is not in the price table"


@cache
def price_table() -> PriceTable:
    """The shipped table, read and checked once per process."""
    text = resources.files(__package__ or "finops.rules").joinpath(TABLE_FILE).read_text(encoding="utf-8")
    return parse_table(json.loads(text), source=TABLE_FILE)


def parse_table(data: Any, *, source: str) -> PriceTable:
    """Check the header and turn every price into a positive Decimal; a bad table fails with the key path."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected an object at the top level")
    header = {key: data.get(key) for key in ("source", "as_of", "currency", "note")}
    missing = [key for key, value in header.items() if not isinstance(value, str) or not value.strip()]
    if missing:
        raise ValueError(f"{source}: header fields {missing} must be non-empty strings")
    if header["currency"] != "USD":
        raise ValueError(f"{source}: currency must be USD, got {header['currency']!r}")
    prices: dict[str, dict[str, dict[str, Decimal]]] = {}
    raw = data.get("prices")
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: 'prices' must be an object of service -> region -> size -> price")
    for service, regions in raw.items():
        if service not in SERVICES or not isinstance(regions, dict):
            raise ValueError(f"{source}: prices.{service}: expected one of {list(SERVICES)} with regions")
        for region, sizes in regions.items():
            if not isinstance(sizes, dict):
                raise ValueError(f"{source}: prices.{service}.{region}: expected size -> price")
            prices.setdefault(service, {})[region] = {
                size: _price(value, f"{source}: prices.{service}.{region}.{size}") for size, value in sizes.items()
            }
    return PriceTable(
        source=str(header["source"]),
        as_of=str(header["as_of"]),
        currency=str(header["currency"]),
        note=str(header["note"]),
        prices=prices,
    )


def _price(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise ValueError(f"{where}: write prices as strings (exact decimals), got {value!r}")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{where}: not a number: {value!r}") from None
    if not price.is_finite() or price <= 0:
        raise ValueError(f"{where}: a price must be positive, got {value!r}")
    return price
