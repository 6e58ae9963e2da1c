"""The digest of one run of an acting capability: one Slack message per team channel, built by pure functions.

The readers are on-call engineers and team leads. In ten seconds they should see what failed and what to do, what
was stopped or started in their accounts and what that saves until the next start, what was left alone for a reason
worth knowing, and, in the default channel, which accounts the run could not reach.

In enforce mode the outcomes are the truth: an action is listed as done only when its verified outcome is ok; a
planned action without an outcome is a failure ("no result recorded"), never a success. In report mode the planned
actions are listed as what the run *would* do, and the message says that nothing was changed.

Every list is cut to a few lines that fit one section (3000 characters) with "... and N more (see the run summary)",
and the sections are a fixed set, so a digest stays far below Slack's 50 blocks however large the run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from finops.engine.model import Action, RunContext, Skip, Target, TargetResult
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.notify.blocks import SlackMessage, clip, escape, usd
from finops.rules.pricing import Saving, Service, estimate_saving, hourly_price, price_table

__all__ = ["MAX_BLOCKS", "RERUN_COMMAND", "SECTION_TEXT_LIMIT", "digests"]

MAX_BLOCKS = 50  # Slack's limit for a message
SECTION_TEXT_LIMIT = 3000  # Slack's limit for a section's text
HEADER_TEXT_LIMIT = 150  # Slack's limit for a header's plain text
MAX_ACTED = 20  # resources listed per action before "... and N more"
MAX_FAILED = 15
MAX_TARGETS = 15
MAX_SKIP_REASONS = 8
MAX_SKIP_NAMES = 5
# How a platform engineer re-runs only the targets that failed; the digest lists them one "account region" a line.
RERUN_COMMAND = "make run FN={capability} EVENT=<the run's event> TARGETS=<file>"

_RESERVED = 200  # room kept in every section for its "... and N more" line
_NO_OUTCOME = "no result recorded: the run did not report what happened to this action"
_KINDS: Mapping[str, str] = {
    "ec2:instance": "EC2 instance",
    "autoscaling:group": "Auto Scaling group",
    "rds:db": "RDS DB instance",
    "rds:cluster": "Aurora cluster",
}
_SERVICE_OF_KIND: Mapping[str, str] = {
    "ec2:instance": "ec2",
    "autoscaling:group": "autoscaling",
    "rds:db": "rds",
    "rds:cluster": "aurora",
}
_PRICED_AS: Mapping[str, Service] = {"ec2": "ec2", "autoscaling": "ec2", "rds": "rds", "aurora": "aurora"}
_PAST: Mapping[str, str] = {"stop": "stopped", "hibernate": "hibernated", "start": "started"}
_ORDER: Mapping[str, int] = {"stop": 0, "hibernate": 1, "start": 2}
_EMOJI: Mapping[str, str] = {"stop": ":black_square_for_stop:", "hibernate": ":zzz:", "start": ":arrow_forward:"}
_SAVES = frozenset({"stop", "hibernate"})  # the actions whose off period saves compute
_UNREACHABLE_MARKERS = ("AssumeRole", "AccessDenied", "not authorized", "InvalidClientTokenId", "UnrecognizedClient")
_FAILURE_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
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
    (
        ("UnauthorizedOperation", "AccessDenied", "not authorized"),
        "the member role may not do this here: update the FinOps member StackSet in this account, or check the "
        "service control policies.",
    ),
)


@dataclass(frozen=True, slots=True)
class _Item:
    target: Target
    action: Action
    error: str | None = None  # only for failures


@dataclass(slots=True)
class _Channel:
    """Everything one channel's digest says, collected from every target's result."""

    teams: set[str | None] = field(default_factory=set)
    acted: dict[tuple[str, bool], list[_Item]] = field(default_factory=lambda: defaultdict(list))  # (action, preview)
    failed: list[_Item] = field(default_factory=list)
    mentions: dict[str, None] = field(default_factory=dict)  # the handles of teams with failures, in order
    skipped: list[tuple[Target, Skip]] = field(default_factory=list)
    unreachable: list[TargetResult] = field(default_factory=list)
    paused: list[TargetResult] = field(default_factory=list)

    def has_news(self) -> bool:
        """Skips go along with news, never alone: an hourly reconcile that changes nothing posts nothing."""
        return bool(self.acted or self.failed or self.unreachable or self.paused)


@dataclass(frozen=True, slots=True)
class _Estimate:
    """One stopped resource's saving; ``saving`` is None when the schedule has no next start."""

    saving: Saving | None
    size: str | None
    hourly: Decimal | None

    @property
    def unknown(self) -> bool:
        return self.saving is not None and self.saving.amount is None


def digests(
    results: Sequence[TargetResult], ctx: RunContext, config: FinOpsConfig, *, title: str
) -> list[SlackMessage]:
    """One message per channel with something to say, sorted by channel; [] for a run with nothing to say.

    A resource goes to its team's channel (``Action.team``/``Skip.team``, else the account's team); a team without a
    route, and a resource without a team, go to the default channel, as do the targets the run could not reach
    (the platform team deploys the member role) and the targets the kill switch paused.
    """
    channels = _collect(results, ctx, config)
    return [_render(channel, news, ctx, config, title) for channel, news in sorted(channels.items())]


def _collect(results: Sequence[TargetResult], ctx: RunContext, config: FinOpsConfig) -> dict[str, _Channel]:
    channels: dict[str, _Channel] = {}

    def channel_of(team: str | None) -> _Channel:
        news = channels.setdefault(config.team_route(team).channel, _Channel())
        news.teams.add(team)
        return news

    default = config.notifications.slack.default_channel
    for result in results:
        target = result.target
        if result.status == "failed" and not result.outcomes:
            channels.setdefault(default, _Channel()).unreachable.append(result)
            continue
        if result.status == "paused":
            channels.setdefault(default, _Channel()).paused.append(result)
            continue
        if ctx.mode is Mode.REPORT or result.mode is Mode.REPORT:
            for action in result.planned:
                channel_of(action.team or target.team).acted[(action.action, True)].append(_Item(target, action))
        else:
            reported: set[tuple[str, str, str]] = set()
            for outcome in result.outcomes:
                action = outcome.action
                reported.add(_key(action))
                news = channel_of(action.team or target.team)
                if outcome.ok:
                    news.acted[(action.action, False)].append(_Item(target, action))
                else:
                    _fail(news, config, _Item(target, action, outcome.error or "failed without an error message"))
            for action in result.planned:
                if _key(action) not in reported:
                    _fail(channel_of(action.team or target.team), config, _Item(target, action, _NO_OUTCOME))
        for skip in result.skipped:
            if skip.notable:
                channel_of(skip.team or target.team).skipped.append((target, skip))
    return {channel: news for channel, news in channels.items() if news.has_news()}


def _key(action: Action) -> tuple[str, str, str]:
    return (action.resource, action.kind, action.action)


def _fail(news: _Channel, config: FinOpsConfig, item: _Item) -> None:
    news.failed.append(item)
    mention = config.team_route(item.action.team or item.target.team).mention
    if mention:
        news.mentions[mention] = None


# --- rendering ---------------------------------------------------------------------------------------------------


def _render(channel: str, news: _Channel, ctx: RunContext, config: FinOpsConfig, title: str) -> SlackMessage:
    preview = ctx.mode is Mode.REPORT
    more = f"see the run summary, run id `{_e(ctx.run_id, 100)}`"
    tally = _tally(news)
    mentions = " ".join(news.mentions)
    saving = _saving_blocks(news, preview)

    head = f"{title}{' (preview)' if preview else ''}: {', '.join(tally)} — {_when(ctx.now)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(head, HEADER_TEXT_LIMIT)}},
        _context(f"{_teams_line(news, config)} · {ctx.mode} mode · run `{_e(ctx.run_id, 100)}`"),
    ]
    if preview:
        blocks.append(_section(_preview_line(news, ctx)))
    if news.failed or news.unreachable:
        blocks.append({"type": "divider"})
    if news.failed:
        lines = [_failure_line(item, news) for item in _sorted(news.failed)]
        heading = f"{mentions + ' ' if mentions else ''}:x: *Failed ({len(news.failed)})*: not changed"
        blocks.append(_list_section(heading, lines, limit=MAX_FAILED, more=more))
    if news.unreachable:
        blocks += _unreachable_blocks(news.unreachable, ctx, config, more)
    if news.acted:
        blocks.append({"type": "divider"})
    for (action, would), items in _in_order(news.acted):  # stops and hibernations first, then their saving
        if action not in _SAVES:
            blocks += saving
            saving = []
        heading = _acted_heading(action, would, len(items))
        lines = [_acted_line(item, news) for item in _sorted(items)]
        blocks.append(_list_section(heading, lines, limit=MAX_ACTED, more=more))
    blocks += saving
    if news.skipped:
        blocks += [{"type": "divider"}, _skipped_section(news, more)]
    if news.paused:
        blocks.append(_section(_paused_line(news.paused, config)))
    blocks.append(_context(f"{escape(ctx.capability)} {escape(ctx.kind)} run `{_e(ctx.run_id, 100)}`"))

    lead = f"{mentions} " if mentions else ""
    prefix = "Preview (report mode), nothing was changed: " if preview else ""
    text = f"{lead}{prefix}{escape(title)}: {', '.join(tally)} · {_teams_line(news, config, plain=True)}"
    return SlackMessage(channel=channel, text=text, blocks=tuple(blocks))


def _tally(news: _Channel) -> list[str]:
    parts = []
    for (action, would), items in _in_order(news.acted):
        parts.append(f"would {action} {len(items)}" if would else f"{len(items)} {_past(action)}")
    if news.failed:
        parts.append(f"{len(news.failed)} failed")
    if news.unreachable:
        accounts = len({r.target.account for r in news.unreachable})
        parts.append(f"{accounts} account{_s(accounts)} not reached")
    if news.paused:
        parts.append(f"{len(news.paused)} target{_s(len(news.paused))} paused")
    if news.skipped:
        parts.append(f"{len(news.skipped)} skipped")
    return parts


def _preview_line(news: _Channel, ctx: RunContext) -> str:
    would = [f"{action} {len(items)}" for (action, is_preview), items in _in_order(news.acted) if is_preview]
    doing = f"would {', '.join(would)}; " if would else ""
    return (
        f":eyes: *Preview (report mode)*: {doing}nothing was changed. "
        f"Set `capabilities.{escape(ctx.capability)}.mode: enforce` in finops.yaml to act."
    )


def _teams_line(news: _Channel, config: FinOpsConfig, *, plain: bool = False) -> str:
    teams = sorted(t for t in news.teams if t)
    unrouted = " (no route in notifications.teams)"
    named = [t if plain or t.lower() in config.notifications.teams else t + unrouted for t in teams]
    parts = [("" if plain else "*") + escape(name) + ("" if plain else "*") for name in named]
    if None in news.teams:
        parts.append("resources without an owning team")
    if not parts:
        return "default channel"
    return ("team " if len(parts) == 1 and teams else "for ") + ", ".join(parts)


def _acted_heading(action: str, would: bool, count: int) -> str:
    emoji = _EMOJI.get(action, ":gear:")
    label = f"Would {action}" if would else _past(action).capitalize()
    return f"{emoji} *{escape(label)} ({count})*"


def _acted_line(item: _Item, news: _Channel) -> str:
    line = _resource_line(item, news)
    if item.action.action in _SAVES:
        line += f" — {_estimate_text(_estimate(item))}"
    return line


def _failure_line(item: _Item, news: _Channel) -> str:
    error = item.error or ""
    what = f"{item.action.action.capitalize()} failed: {_e(error, 300)}"
    return f"{_resource_line(item, news)}\n      {what}\n      → {_hint(error)}"


def _resource_line(item: _Item, news: _Channel) -> str:
    action, target = item.action, item.target
    parts = [_kind(action)]
    size = _text(action.details.get("size"))
    if size:
        parts.append(_e(size, 40))
    parts += [_account(target), escape(target.region)]
    if len(news.teams) > 1:
        parts.append(f"team {_e(action.team or target.team or 'none', 40)}")
    return f"• {_named(action.name, action.resource)} · " + " · ".join(parts)


def _named(name: str | None, resource: str) -> str:
    ident = f"`{_e(resource, 100)}`"
    return f"*{_e(name, 60)}* {ident}" if name and name != resource else ident


def _kind(action: Action) -> str:
    label = _KINDS.get(action.kind) or _e(action.kind, 40)
    count = _count(action.details.get("count"))
    if action.kind in ("autoscaling:group", "rds:cluster") and count is not None:
        label += f" ({count} instance{_s(count)})"
    return label


def _account(target: Target) -> str:
    return f"{_e(target.name, 50)} ({escape(target.account)})" if target.name else escape(target.account)


def _hint(error: str) -> str:
    if error == _NO_OUTCOME:
        return "check the resource in the console: it may or may not have changed."
    for markers, hint in _FAILURE_HINTS:
        if any(marker in error for marker in markers):
            return hint
    return "check the resource in the console."


# --- the saving --------------------------------------------------------------------------------------------------


def _estimate(item: _Item) -> _Estimate:
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


def _saving_blocks(news: _Channel, preview: bool) -> list[dict[str, Any]]:
    items = [item for (action, _), group in news.acted.items() if action in _SAVES for item in group]
    if not items:
        return []
    estimates = [_estimate(item) for item in items]
    known = [e.saving.amount for e in estimates if e.saving is not None and e.saving.amount is not None]
    unknown = [e for e in estimates if e.unknown]
    without_start = sum(1 for e in estimates if e.saving is None)
    lead = "Estimated saving until the next start" + (" (if enforced)" if preview else "")
    total = usd(sum(known, Decimal(0))) if known else "unknown"
    line = f":moneybag: *{lead}: {total}*"
    if unknown:
        sizes = list(dict.fromkeys(e.size or "size not reported" for e in unknown))
        shown = ", ".join(_e(size, 40) for size in sizes[:4]) + (" …" if len(sizes) > 4 else "")
        line += f" ({len(unknown)} resource{_s(len(unknown))} at unknown price: {shown})"
    note = (
        f"On-Demand list price of the compute (price table as of {escape(price_table().as_of)}), not your discounted "
        "rate; EBS volumes and DB storage are still billed while stopped."
    )
    if without_start:
        note += f" Not in the total: {without_start} with no scheduled start."
    return [_section(line), _context(note)]


# --- skipped, unreachable, paused --------------------------------------------------------------------------------


def _skipped_section(news: _Channel, more: str) -> dict[str, Any]:
    by_reason: dict[str, list[str]] = defaultdict(list)
    for _, skip in sorted(news.skipped, key=lambda ts: (ts[1].reason, ts[0], ts[1].name or ts[1].resource)):
        by_reason[skip.reason].append(_e(skip.name or skip.resource, 60))
    lines = []
    for reason, names in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        rest = len(names) - MAX_SKIP_NAMES
        listed = ", ".join(names[:MAX_SKIP_NAMES]) + (f" and {rest} more" if rest > 0 else "")
        lines.append(f"• *{_e(reason, 150)}* ({len(names)}): {listed}")
    heading = f":information_source: *Left alone ({len(news.skipped)})*"
    return _list_section(heading, lines, limit=MAX_SKIP_REASONS, more=more, unit="reason")


def _unreachable_blocks(
    results: Sequence[TargetResult], ctx: RunContext, config: FinOpsConfig, more: str
) -> list[dict[str, Any]]:
    ordered = sorted(results, key=lambda r: r.target)
    lines = [
        f"• {_account(r.target)} · {escape(r.target.region)}: {_e(r.error or 'failed without an error message', 300)}"
        for r in ordered
    ]
    unknown = sum(1 for r in ordered if _outcome_unknown(r.error))
    heading = (
        f":warning: *Not reached ({len(results)} account/region{_s(len(results))})*: nothing was done there"
        if not unknown
        else f":warning: *Failed ({len(results)} account/region{_s(len(results))})*: "
        f"{unknown} with an unknown outcome (the worker stopped part-way: the audit trail holds what it did)"
    )
    role = escape(config.organization.member_role_name)
    denied = sum(1 for r in ordered if _role_refused(r.error))
    fixes = []
    if denied:
        fixes.append(
            f"• {denied} where the member role could not be assumed: deploy the FinOps member StackSet (role "
            f"`{role}`) to the account, or exclude it (`organization.excluded_accounts`)."
        )
    if unknown:
        fixes.append(f"• {unknown} whose worker failed: check the audit trail for this run id, then re-run them.")
    if len(ordered) - denied - unknown:
        fixes.append(
            f"• {len(ordered) - denied - unknown} where a read failed after the client's retries: re-run them."
        )
    shown = ordered[:MAX_TARGETS]
    listing = "\n".join(f"{escape(r.target.account)} {escape(r.target.region)}" for r in shown)
    cut = f"\n(first {len(shown)} of {len(ordered)}: the run summary lists all)" if len(ordered) > len(shown) else ""
    command = escape(RERUN_COMMAND.format(capability=ctx.capability))
    rerun = f"Re-run only these: save the lines below to a file and run `{command}`\n```{listing}```{cut}"
    return [
        _list_section(heading, lines, limit=MAX_TARGETS, more=more),
        _section("*What to do*\n" + "\n".join(fixes) + "\n" + rerun),
    ]


def _outcome_unknown(error: str | None) -> bool:
    """The worker did not come back (or stopped on a bug): it may have acted before it did."""
    return error is not None and error.startswith(("worker failed", "the Map recorded no result", "unexpected error"))


def _role_refused(error: str | None) -> bool:
    return error is not None and any(marker in error for marker in _UNREACHABLE_MARKERS)


def _paused_line(results: Sequence[TargetResult], config: FinOpsConfig) -> str:
    accounts = len({r.target.account for r in results})
    why = next((r.error for r in results if r.error), None)
    reason = f" ({_e(why, 200)})" if why else ""
    return (
        f":double_vertical_bar: *Paused* in {len(results)} target{_s(len(results))} ({accounts} "
        f"account{_s(accounts)}) by the kill switch{reason}: nothing was planned or changed there; clear "
        f"`{escape(config.safety.kill_switch_parameter)}` to resume."
    )


# --- Block Kit and text helpers -----------------------------------------------------------------------------------


def _list_section(heading: str, lines: Sequence[str], *, limit: int, more: str, unit: str = "") -> dict[str, Any]:
    """A section with the heading and as many lines as fit (at most ``limit``), then "... and N more"."""
    text, shown = heading, 0
    for line in lines[:limit]:
        line = clip(line, SECTION_TEXT_LIMIT - _RESERVED - len(heading) - 1)
        if len(text) + 1 + len(line) > SECTION_TEXT_LIMIT - _RESERVED:
            break
        text, shown = f"{text}\n{line}", shown + 1
    rest = len(lines) - shown
    if rest:
        what = f" {unit}{_s(rest)}" if unit else ""
        text += f"\n… and {rest} more{what} ({more})"
    return _section(clip(text, SECTION_TEXT_LIMIT))


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_TEXT_LIMIT)}]}


def _in_order(acted: Mapping[tuple[str, bool], list[_Item]]) -> list[tuple[tuple[str, bool], list[_Item]]]:
    """Stop, hibernate, start, then any other action by name; done before would-do."""
    return sorted(acted.items(), key=lambda kv: (_ORDER.get(kv[0][0], len(_ORDER)), kv[0][0], kv[0][1]))


def _sorted(items: Iterable[_Item]) -> list[_Item]:
    return sorted(items, key=lambda i: (i.target, i.action.name or i.action.resource, i.action.resource))


def _when(now: datetime) -> str:
    moment = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    return f"{moment:%a} {moment.day} {moment:%b %H:%M} UTC"


def _past(action: str) -> str:
    return _PAST.get(action, f"{action} done")


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


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _e(text: str, limit: int) -> str:
    """Clip, then escape: clipping after escaping could cut an entity in half."""
    return escape(clip(text, limit))
