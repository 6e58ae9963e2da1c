"""The storage clean-up's words in the run digest: what was marked for deletion and when it goes, what was deleted
and how to bring it back, what was unmarked and why, what moved to gp3, and what all that saves a month.

A mark's line is for the resource's owner: what it is, what it costs, the day it will be deleted, and under the
list the one command that keeps it. A deletion's line gives the final snapshot and the ``make restore`` command
that recreates the volume from it. The money is list prices from the shipped table, and says where it is an upper
bound (snapshots are incremental) or starts late (Recycle Bin retention bills like the resource).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
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
    day,
    e,
    plural,
    section,
    utc,
)
from finops.rules.storage_pricing import storage_prices

__all__ = ["CLEANUP", "RESTORE_COMMAND", "CleanupPresenter"]

RESTORE_COMMAND = "make restore RECORD={record}"  # recreates a deleted volume from its final snapshot
VOLUME, SNAPSHOT = "ec2:volume", "ec2:snapshot"
MARK, DELETE, UNMARK, GP3 = "mark", "delete", "unmark", "gp3"
_SAVES = frozenset({DELETE, GP3})  # what the monthly saving sums
_FINAL_SNAPSHOT_PENDING = re.compile(r"final snapshot\b.*\bnot (yet )?complete", re.IGNORECASE | re.DOTALL)


class CleanupPresenter(Presenter):
    verbs = (
        Verb(
            MARK,
            "marked",
            ":hourglass_flowing_sand:",
            heading="Marked for deletion",
            would_heading="Would mark for deletion",
        ),
        Verb(DELETE, "deleted", ":wastebasket:"),
        Verb(
            GP3,
            "migrated to gp3",
            ":arrows_counterclockwise:",
            plan="migrate {n} to gp3",
            heading="Migrated to gp3",
            would_heading="Would migrate to gp3",
            failed="Migration to gp3 failed",
        ),
        Verb(UNMARK, "unmarked", ":leftwards_arrow_with_hook:"),
    )
    kinds: Mapping[str, str] = {VOLUME: "EBS volume", SNAPSHOT: "EBS snapshot"}
    hints = (
        (("VolumeInUse",), "it was attached again between the check and the delete: nothing was lost."),
        (("InvalidSnapshot.InUse",), "an AMI uses it now: it stays."),
        (
            ("InvalidVolume.NotFound", "InvalidSnapshot.NotFound"),
            "it is gone already (deleted outside FinOps since the run read it): nothing to do.",
        ),
        (
            ("IncorrectModificationState", "VolumeModificationRateExceeded"),
            "the volume was modified in the last 6 hours (EBS allows one modification in 6 hours): the next run "
            "tries again.",
        ),
        (
            ("SnapshotLimitExceeded",),
            "the account's snapshot quota is reached, so the final snapshot could not be made and the volume stays: "
            "raise the quota in Service Quotas.",
        ),
        (
            ("KMS", "kms:"),
            "a KMS key blocks the final snapshot: let the member role use the volume's key (key policy or a grant); "
            "the volume stays.",
        ),
        (("UnauthorizedOperation", "AccessDenied", "not authorized"), ACCESS_DENIED_HINT),
    )
    summary_after = frozenset({MARK, DELETE, GP3})
    hold_emoji: Mapping[str, str] = {"Circuit breaker tripped": ":rotating_light:", "Recycle Bin": ":recycle:"}

    def size(self, action: Action) -> str | None:
        size = _number(action.details.get("size_gb"))
        if size is None:
            return None
        if action.kind == SNAPSHOT:
            bound = "≤ " if action.details.get("size_is_full") is False else ""
            return f"{bound}{_gib(size)} GiB"
        volume_type = action.details.get("volume_type")
        return f"{_gib(size)} GiB" + (f" {e(volume_type, 20)}" if isinstance(volume_type, str) else "")

    def heading(self, verb: Verb, would: bool, items: Sequence[Item], run: DigestRun) -> str:
        head = super().heading(verb, would, items, run)
        if verb.name == MARK:
            dates = _dates(items, run)
            on = f"on *{dates[0]}*" if len(dates) == 1 else "on the day on its line"
            return f"{head}: {'each would go' if would else 'each goes'} {on} unless you keep it"
        if verb.name == UNMARK:
            return f"{head}: {'would be kept after all' if would else 'kept after all, no longer to be deleted'}"
        return head

    def suffix(self, item: Item, would: bool, run: DigestRun) -> str:
        action, details = item.action, item.action.details
        facts: list[str] = []
        final_of = details.get("final_snapshot_of")
        if isinstance(final_of, str):
            facts.append(f"final snapshot of `{e(final_of, 60)}`")
        if action.action == MARK:
            age = _number(details.get("age_days"))
            if age is not None:
                facts.append(f"{int(age)} day{plural(int(age))} old")
            facts.append(_monthly(details))
            deleted_on = _deleted_on(details, run)
            facts.append(f"would be deleted on {deleted_on}" if would else f"to be deleted on *{deleted_on}*")
        elif action.action == DELETE:
            facts += _deleted_facts(item, would)
        elif action.action == GP3:
            facts += _gp3_facts(details, would)
        elif action.action == UNMARK:
            facts.append(e(action.reason, 200))
        return " — " + " · ".join(facts) if facts else ""

    def notes(self, verb: Verb, would: bool, items: Sequence[Item], run: DigestRun) -> list[dict[str, Any]]:
        """Under the marks: how to keep one (the protect tag before the day, one example command)."""
        if verb.name != MARK or not items:
            return []
        protect = run.config.safety.protect_tag
        tag = f"{protect.key}={protect.values[0]}"
        dates = _dates(items, run)
        instants = {_instant(i.action.details.get("delete_after")) for i in items}
        moment = next(iter(instants)) if len(instants) == 1 else None
        at = f" {utc(moment):%H:%M} UTC" if moment is not None else ""
        before = f"before {dates[0]}{at}" if len(dates) == 1 else "before the day on its line"
        lines = [f":shield: *To keep one*, tag it `{escape(tag)}` (the config's protect tag) {before}:"]
        example = next((i for i in items if isinstance(i.action.details.get("keep_command"), str)), None)
        if example is not None:
            lines.append(f"`{e(str(example.action.details['keep_command']), 500)}`")
            if len(items) > 1:
                lines.append(f"(that is for `{e(example.action.resource, 60)}`: use each one's id and region)")
        volumes = [i for i in items if i.action.kind == VOLUME]
        if volumes:
            days = run.config.capabilities.ebs_cleanup.final_snapshot_retention_days
            if all(i.action.details.get("final_snapshot") is not False for i in volumes):
                lines.append(
                    f"A volume gets a final snapshot (kept {days} days) just before it is deleted; the digest of "
                    "that day gives the command that restores it."
                )
            else:
                lines.append(
                    "Volumes are deleted *without* a final snapshot "
                    "(`capabilities.ebs_cleanup.volumes.final_snapshot: false`)."
                )
        return [section("\n".join(lines))]

    def summary(self, acted: Groups, run: DigestRun) -> list[dict[str, Any]]:
        saving = [item for (action, _), group in acted.items() if action in _SAVES for item in group]
        marked = [item for (action, _), group in acted.items() if action == MARK for item in group]
        if not saving and not marked:
            return []
        lines = []
        if saving:
            total, unknown = _total(saving)
            lead = "Monthly saving" + (" (if enforced)" if run.preview else "")
            line = f":moneybag: *{lead}: {usd(total)}*"
            parts = _saving_parts(saving)
            if len(parts) > 1:
                line += f" ({', '.join(parts)})"
            if unknown:
                line += f"; {unknown} at unknown price, not in the total"
            lines.append(line)
        if marked:
            total, unknown = _total(marked)
            line = f"Marked: {usd(total)}/month if deleted" + (f" ({unknown} at unknown price)" if unknown else "")
            lines.append(line if saving else f":moneybag: {line}")
        return [section("\n".join(lines)), context(_price_note([*saving, *marked], saving, run))]

    def hint(self, error: str) -> str:
        if _FINAL_SNAPSHOT_PENDING.search(error):
            return "nothing to do: the next run deletes the volume once its final snapshot completes."
        return super().hint(error)


CLEANUP = CleanupPresenter()


# --- the lines ---------------------------------------------------------------------------------------------------


def _deleted_facts(item: Item, would: bool) -> list[str]:
    details, after = item.action.details, item.after
    if not would and after.get("already_gone"):
        return ["already gone (deleted outside FinOps)"]
    facts = [_monthly(details)]
    if item.action.kind == VOLUME:
        snapshot, record = after.get("final_snapshot"), after.get("record_id")
        if would:
            if details.get("final_snapshot") is not False:
                facts.append("after a final snapshot")
        elif isinstance(snapshot, str) and snapshot:
            facts.append(f"final snapshot `{e(snapshot, 60)}`")
            if isinstance(record, str) and record:
                facts.append(f"restore: `{e(RESTORE_COMMAND.format(record=record), 200)}`")
        else:
            facts.append("no final snapshot")
    days = _number(details.get("recycle_bin_days"))
    if days is not None:
        facts.append(f"{'would stay in' if would else 'in'} the Recycle Bin for {int(days)} day{plural(int(days))}")
    return facts


def _gp3_facts(details: Mapping[str, Any], would: bool) -> list[str]:
    facts = []
    iops, throughput = _number(details.get("iops")), _number(details.get("throughput"))
    if iops is not None and throughput is not None:
        facts.append(f"gp3 at {int(iops):,} IOPS and {int(throughput)} MiB/s")
    saving, before = _money(details.get("monthly_usd")), _money(details.get("monthly_before_usd"))
    if saving is not None:
        of = f" (of {usd(before)})" if before is not None else ""
        facts.append(f"{'would save' if would else 'saves'} {usd(saving)}/month{of}")
    else:
        facts.append("saving unknown")
    return facts


def _monthly(details: Mapping[str, Any]) -> str:
    amount = _money(details.get("monthly_usd"))
    if amount is None:
        return "unknown price"
    return f"{'≤ ' if details.get('monthly_is_upper_bound') else ''}{usd(amount)}/month"


def _deleted_on(details: Mapping[str, Any], run: DigestRun) -> str:
    moment = _instant(details.get("delete_after"))
    if moment is not None:
        return day(moment, run.ctx.now)
    raw = details.get("delete_after")
    return e(raw, 40) if isinstance(raw, str) and raw else "a day not recorded"


def _dates(items: Sequence[Item], run: DigestRun) -> list[str]:
    return list(dict.fromkeys(_deleted_on(i.action.details, run) for i in items))


# --- the money ---------------------------------------------------------------------------------------------------


def _total(items: Sequence[Item]) -> tuple[Decimal, int]:
    """The sum of the known monthly figures, and how many were unknown. An item already gone counts: it is."""
    amounts = [_money(i.action.details.get("monthly_usd")) for i in items]
    return sum((a for a in amounts if a is not None), Decimal(0)), sum(a is None for a in amounts)


def _saving_parts(items: Sequence[Item]) -> list[str]:
    parts = []
    for action, label in ((DELETE, "deletion"), (GP3, "gp3 migration")):
        mine = [i for i in items if i.action.action == action]
        if mine:
            parts.append(f"{len(mine)} {label}{plural(len(mine))}: {usd(_total(mine)[0])}")
    return parts


def _price_note(counted: Sequence[Item], saving: Sequence[Item], run: DigestRun) -> str:
    prices = storage_prices()
    notes = [f"List prices (price table as of {escape(prices.as_of)}), not your discounted rate."]
    if any(i.action.kind == SNAPSHOT for i in counted):
        notes.append(
            "Snapshot figures are upper bounds (incremental snapshots free only the blocks no other snapshot needs)."
        )
    deleted = [i for i in saving if i.action.action == DELETE and not i.after.get("already_gone")]
    days = sorted({int(d) for i in deleted if (d := _number(i.action.details.get("recycle_bin_days"))) is not None})
    if days:
        span = f"{days[0]}" if len(days) == 1 else f"{days[0]} to {days[-1]}"
        notes.append(
            f"The saving starts once Recycle Bin retention ends ({span} days): Recycle Bin bills retained volumes "
            "and snapshots at the same rate."
        )
    if any(i.action.kind == VOLUME and i.action.details.get("final_snapshot") is not False for i in deleted):
        keep = run.config.capabilities.ebs_cleanup.final_snapshot_retention_days
        notes.append(f"A deleted volume's final snapshot is billed as a snapshot until it expires ({keep} days).")
    notes.append(f"Prices: {e(prices.source, 400)}")
    return " ".join(notes)


# --- values from the plan's details ------------------------------------------------------------------------------


def _money(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value >= 0 else None


def _gib(size: float) -> str:
    return f"{int(size):,}" if size.is_integer() else f"{size:,.1f}"


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
