"""The scheduler's words in the run digest: what was stopped, hibernated or started, and what that saves until the
next start (the compute's On-Demand list price for the hours it stays off)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finops.engine.model import Action
from finops.notify.blocks import escape, usd
from finops.notify.presenter import (
    ACCESS_DENIED_HINT,
    DigestRun,
    Groups,
    Item,
    Presenter,
    Verb,
    context,
    e,
    plural,
    section,
)
from finops.rules.pricing import Saving, Service, estimate_saving, hourly_price, price_table

__all__ = ["SCHEDULER", "SchedulerPresenter"]

_SERVICE_OF_KIND: Mapping[str, str] = {
    "ec2:instance": "ec2",
    "autoscaling:group": "autoscaling",
    "rds:db": "rds",
    "rds:cluster": "aurora",
}
_PRICED_AS: Mapping[str, Service] = {"ec2": "ec2", "autoscaling": "ec2", "rds": "rds", "aurora": "aurora"}
_SAVES = frozenset({"stop", "hibernate"})  # the actions whose off period saves compute


@dataclass(frozen=True, slots=True)
class _Estimate:
    """One stopped resource's saving; ``saving`` is None when the schedule has no next start."""

    saving: Saving | None
    size: str | None
    hourly: Decimal | None

    @property
    def unknown(self) -> bool:
        return self.saving is not None and self.saving.amount is None


class SchedulerPresenter(Presenter):
    verbs = (
        Verb("stop", "stopped", ":black_square_for_stop:"),
        Verb("hibernate", "hibernated", ":zzz:"),
        Verb("start", "started", ":arrow_forward:"),
    )
    kinds: Mapping[str, str] = {
        "ec2:instance": "EC2 instance",
        "autoscaling:group": "Auto Scaling group",
        "rds:db": "RDS DB instance",
        "rds:cluster": "Aurora cluster",
    }
    hints = (
        (
            ("InsufficientInstanceCapacity", "InsufficientDBInstanceCapacity", "InsufficientCapacity"),
            "AWS has no capacity for this type in this Availability Zone right now: try again later, or move it to "
            "another instance type or AZ.",
        ),
        (
            ("KMS", "kms:"),
            "a KMS key blocks it: grant the key to the instance's role and to EBS (or to RDS for a DB) in the key "
            "policy or with a grant, then start it again.",
        ),
        (
            ("InvalidDBInstanceState", "InvalidDBClusterState"),
            "the DB was busy (backing up, modifying, already changing state): check it in the RDS console.",
        ),
        (
            ("IncorrectInstanceState", "IncorrectState"),
            "the instance was changing state: check it in the EC2 console.",
        ),
        (
            ("UnsupportedOperation",),
            "this resource cannot be stopped that way (Spot, instance store): exclude it from the schedule.",
        ),
        (("UnauthorizedOperation", "AccessDenied", "not authorized"), ACCESS_DENIED_HINT),
    )
    summary_after = _SAVES

    def kind(self, action: Action) -> str:
        label = super().kind(action)
        count = _count(action.details.get("count"))
        if action.kind in ("autoscaling:group", "rds:cluster") and count is not None:
            label += f" ({count} instance{plural(count)})"
        return label

    def size(self, action: Action) -> str | None:
        size = _text(action.details.get("size"))
        return e(size, 40) if size else None

    def suffix(self, item: Item, would: bool, run: DigestRun) -> str:
        return f" — {_estimate_text(_estimate(item))}" if item.action.action in _SAVES else ""

    def summary(self, acted: Groups, run: DigestRun) -> list[dict[str, Any]]:
        items = [item for (action, _), group in acted.items() if action in _SAVES for item in group]
        return _saving_blocks(items, run.preview)


SCHEDULER = SchedulerPresenter()


def _estimate(item: Item) -> _Estimate:
    details = item.action.details
    service = _text(details.get("service")) or _SERVICE_OF_KIND.get(item.action.kind, "")
    priced = _PRICED_AS.get(service)
    size = _text(details.get("size"))
    count = _count(details.get("count"))
    count = 1 if count is None else count
    hours = _hours(details.get("off_hours"))
    region = item.target.region
    if priced is None or size is None:
        why = "no size reported" if size is None else f"no prices for {service or item.action.kind}"
        return _Estimate(None if hours is None else Saving(None, hours, None, count, why), size, None)
    if hours is None:
        return _Estimate(None, size, hourly_price(priced, size, region))
    saving = estimate_saving(priced, size, region, hours, count)
    return _Estimate(saving, size, saving.hourly)


def _estimate_text(estimate: _Estimate) -> str:
    saving = estimate.saving
    if saving is None:
        rate = f" (saves {_rate(estimate.hourly)} while stopped)" if estimate.hourly is not None else ""
        return f"no scheduled start{rate}"
    if saving.amount is None or saving.hourly is None:
        return f"unknown price ({escape(saving.reason_if_unknown or 'not in the price table')})"
    times = f"{saving.count} × " if saving.count != 1 else ""
    return f"~{usd(saving.amount)} ({_h(saving.hours)} h × {times}{_rate(saving.hourly)})"


def _saving_blocks(items: Sequence[Item], preview: bool) -> list[dict[str, Any]]:
    if not items:
        return []
    estimates = [_estimate(item) for item in items]
    known = [est.saving.amount for est in estimates if est.saving is not None and est.saving.amount is not None]
    unknown = [est for est in estimates if est.unknown]
    without_start = sum(1 for est in estimates if est.saving is None)
    lead = "Estimated saving until the next start" + (" (if enforced)" if preview else "")
    total = usd(sum(known, Decimal(0))) if known else "unknown"
    line = f":moneybag: *{lead}: {total}*"
    if unknown:
        sizes = list(dict.fromkeys(est.size or "size not reported" for est in unknown))
        shown = ", ".join(e(size, 40) for size in sizes[:4]) + (" …" if len(sizes) > 4 else "")
        line += f" ({len(unknown)} resource{plural(len(unknown))} at unknown price: {shown})"
    note = (
        f"On-Demand list price of the compute (price table as of {escape(price_table().as_of)}), not your discounted "
        "rate; EBS volumes and DB storage are still billed while stopped."
    )
    if without_start:
        note += f" Not in the total: {without_start} with no scheduled start."
    return [section(line), context(note)]


def _rate(hourly: Decimal | None) -> str:
    return f"${format(hourly.normalize(), 'f')}/h" if hourly is not None else "unknown"


def _h(hours: float) -> str:
    return f"{round(hours, 2):g}"


def _hours(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value >= 0 else None


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
