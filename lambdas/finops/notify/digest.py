"""The digest of one run of an acting capability: one Slack message per team channel, built by pure functions.

The readers are on-call engineers and team leads. In ten seconds they should see what failed and what to do, what
was done in their accounts and what that saves, what was left alone for a reason worth knowing, and, in the
default channel, which accounts the run could not reach and where a safety net held the run back.

In enforce mode the outcomes are the truth: an action is listed as done only when its verified outcome is ok; a
planned action without an outcome is a failure ("no result recorded"), never a success. In report mode the planned
actions are listed as what the run *would* do, and the message says that nothing was changed.

This module is the part every capability shares: collecting per channel, failures, unreachable and paused targets,
holds, skips, the layout and Slack's limits. The words (kinds, verbs, the saving) come from the capability's
:class:`~finops.notify.presenter.Presenter`, chosen by ``ctx.capability`` from :data:`PRESENTERS`.

Every list is cut to a few lines that fit one section (3000 characters) with "... and N more (see the run summary)",
and the sections are a fixed set, so a digest stays far below Slack's 50 blocks however large the run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from finops.engine.model import Action, RunContext, Skip, Target, TargetResult
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.notify.blocks import SlackMessage, clip, escape
from finops.notify.cleanup_digest import CLEANUP
from finops.notify.presenter import (
    MAX_ACTED,
    MAX_BLOCKS,
    NO_OUTCOME,
    SECTION_TEXT_LIMIT,
    DigestRun,
    Item,
    Presenter,
    account,
    context,
    e,
    list_section,
    named,
    plural,
    section,
    when,
)
from finops.notify.scheduler_digest import SCHEDULER

__all__ = ["MAX_BLOCKS", "PRESENTERS", "RERUN_COMMAND", "SECTION_TEXT_LIMIT", "digests", "presenter_for"]

HEADER_TEXT_LIMIT = 150  # Slack's limit for a header's plain text
MAX_FAILED = 15
MAX_TARGETS = 15
MAX_SKIP_REASONS = 8
MAX_SKIP_NAMES = 5
MAX_HOLD_TOPICS = 3  # sections of holds; any further topics share one
# How a platform engineer re-runs only the targets that failed; the digest lists them one "account region" a line.
RERUN_COMMAND = "make run FN={capability} EVENT=<the run's event> TARGETS=<file>"
# Each acting capability's words; a capability not listed gets the plain base presenter (its actions still listed).
PRESENTERS: Mapping[str, Presenter] = {"scheduler": SCHEDULER, "ebs_cleanup": CLEANUP}

_UNREACHABLE_MARKERS = ("AssumeRole", "AccessDenied", "not authorized", "InvalidClientTokenId", "UnrecognizedClient")
_PLAIN = Presenter()


@dataclass(frozen=True, slots=True)
class _Hold:
    target: Target
    text: str


@dataclass(slots=True)
class _Channel:
    """Everything one channel's digest says, collected from every target's result."""

    teams: set[str | None] = field(default_factory=set)
    acted: dict[tuple[str, bool], list[Item]] = field(default_factory=lambda: defaultdict(list))  # (action, preview)
    failed: list[Item] = field(default_factory=list)
    mentions: dict[str, None] = field(default_factory=dict)  # the handles of teams with failures, in order
    skipped: list[tuple[Target, Skip]] = field(default_factory=list)
    unreachable: list[TargetResult] = field(default_factory=list)
    paused: list[TargetResult] = field(default_factory=list)
    holds: list[_Hold] = field(default_factory=list)

    def has_news(self) -> bool:
        """Skips go along with news, never alone: an hourly reconcile that changes nothing posts nothing."""
        return bool(self.acted or self.failed or self.unreachable or self.paused or self.holds)


def presenter_for(capability: str) -> Presenter:
    return PRESENTERS.get(capability, _PLAIN)


def digests(
    results: Sequence[TargetResult],
    ctx: RunContext,
    config: FinOpsConfig,
    *,
    title: str,
    presenter: Presenter | None = None,
) -> list[SlackMessage]:
    """One message per channel with something to say, sorted by channel; [] for a run with nothing to say.

    A resource goes to its team's channel (``Action.team``/``Skip.team``, else the account's team); a team without a
    route, and a resource without a team, go to the default channel, as do the targets the run could not reach
    (the platform team deploys the member role) and the targets the kill switch paused. A target's holds (a safety
    net that held back part of its plan) go to the default channel and to the account team's channel.

    ``presenter`` words the capability's actions; by default the one :data:`PRESENTERS` names for ``ctx.capability``.
    """
    words = presenter or presenter_for(ctx.capability)
    run = DigestRun(ctx, config)
    channels = _collect(results, ctx, config)
    return [_render(channel, news, run, words, title) for channel, news in sorted(channels.items())]


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
        for hold in result.holds:
            team_channel = channel_of(target.team)
            team_channel.holds.append(_Hold(target, hold))
            on_call = channels.setdefault(default, _Channel())
            if on_call is not team_channel:
                on_call.holds.append(_Hold(target, hold))
        if ctx.mode is Mode.REPORT or result.mode is Mode.REPORT:
            for action in result.planned:
                channel_of(action.team or target.team).acted[(action.action, True)].append(Item(target, action))
        else:
            reported: set[tuple[str, str, str]] = set()
            for outcome in result.outcomes:
                action = outcome.action
                reported.add(_key(action))
                news = channel_of(action.team or target.team)
                if outcome.ok:
                    news.acted[(action.action, False)].append(Item(target, action, after=outcome.after))
                else:
                    _fail(news, config, Item(target, action, outcome.error or "failed without an error message"))
            for action in result.planned:
                if _key(action) not in reported:
                    _fail(channel_of(action.team or target.team), config, Item(target, action, NO_OUTCOME))
        for skip in result.skipped:
            if skip.notable:
                channel_of(skip.team or target.team).skipped.append((target, skip))
    return {channel: news for channel, news in channels.items() if news.has_news()}


def _key(action: Action) -> tuple[str, str, str]:
    return (action.resource, action.kind, action.action)


def _fail(news: _Channel, config: FinOpsConfig, item: Item) -> None:
    news.failed.append(item)
    mention = config.team_route(item.action.team or item.target.team).mention
    if mention:
        news.mentions[mention] = None


# --- rendering ---------------------------------------------------------------------------------------------------


def _render(channel: str, news: _Channel, run: DigestRun, words: Presenter, title: str) -> SlackMessage:
    ctx, config, preview, more = run.ctx, run.config, run.preview, run.more
    tally = _tally(news, words)
    mentions = " ".join(news.mentions)

    moment = f" — {when(ctx.now)}"  # a header too long for Slack loses tally, never its time
    head = clip(f"{title}{' (preview)' if preview else ''}: {', '.join(tally)}", HEADER_TEXT_LIMIT - len(moment))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head + moment}},
        context(f"{_teams_line(news, config)} · {ctx.mode} mode · run `{e(ctx.run_id, 100)}`"),
    ]
    if preview:
        blocks.append(section(_preview_line(news, ctx, words)))
    if news.failed or news.unreachable or news.holds:
        blocks.append({"type": "divider"})
    if news.failed:
        lines = [_failure_line(item, news, words) for item in _sorted(news.failed)]
        heading = f"{mentions + ' ' if mentions else ''}:x: *Failed ({len(news.failed)})*: not changed"
        blocks.append(list_section(heading, lines, limit=MAX_FAILED, more=more))
    if news.unreachable:
        blocks += _unreachable_blocks(news.unreachable, ctx, config, more)
    if news.holds:
        blocks += _hold_blocks(news.holds, words, more)
    if news.acted:
        blocks.append({"type": "divider"})
    blocks += _acted_blocks(news, run, words)
    if news.skipped:
        blocks += [{"type": "divider"}, _skipped_section(news, more)]
    if news.paused:
        blocks.append(section(_paused_line(news.paused, config)))
    blocks.append(context(f"{escape(ctx.capability)} {escape(ctx.kind)} run `{e(ctx.run_id, 100)}`"))

    lead = f"{mentions} " if mentions else ""
    prefix = "Preview (report mode), nothing was changed: " if preview else ""
    text = f"{lead}{prefix}{escape(title)}: {', '.join(tally)} · {_teams_line(news, config, plain=True)}"
    return SlackMessage(channel=channel, text=text, blocks=tuple(blocks))


def _acted_blocks(news: _Channel, run: DigestRun, words: Presenter) -> list[dict[str, Any]]:
    """Each action's list (and the presenter's notes under it); the summary after the last of ``summary_after``."""
    groups = _in_order(news.acted, words)
    last = max((i for i, ((action, _), _) in enumerate(groups) if action in words.summary_after), default=None)
    blocks: list[dict[str, Any]] = []
    for index, ((action, would), items) in enumerate(groups):
        verb = words.verb(action)
        ordered = _sorted(items)
        lines = [_resource_line(item, news, words) + words.suffix(item, would, run) for item in ordered]
        blocks.append(list_section(words.heading(verb, would, ordered, run), lines, limit=MAX_ACTED, more=run.more))
        blocks += words.notes(verb, would, ordered, run)
        if index == last:
            blocks += words.summary(news.acted, run)
    if last is None and groups:
        blocks += words.summary(news.acted, run)
    return blocks


def _tally(news: _Channel, words: Presenter) -> list[str]:
    parts = []
    for (action, would), items in _in_order(news.acted, words):
        verb = words.verb(action)
        parts.append(f"would {verb.would(len(items))}" if would else verb.done(len(items)))
    if news.failed:
        parts.append(f"{len(news.failed)} failed")
    if news.unreachable:
        accounts = len({r.target.account for r in news.unreachable})
        parts.append(f"{accounts} account{plural(accounts)} not reached")
    if news.holds:
        held = len({h.target for h in news.holds})
        parts.append(f"held back in {held} account/region{plural(held)}")
    if news.paused:
        parts.append(f"{len(news.paused)} target{plural(len(news.paused))} paused")
    if news.skipped:
        parts.append(f"{len(news.skipped)} skipped")
    return parts


def _preview_line(news: _Channel, ctx: RunContext, words: Presenter) -> str:
    groups = _in_order(news.acted, words)
    would = [words.verb(action).would(len(items)) for (action, is_preview), items in groups if is_preview]
    doing = f"would {', '.join(would)}; " if would else ""
    return (
        f":eyes: *Preview (report mode)*: {doing}nothing was changed. "
        f"Set `capabilities.{escape(ctx.capability)}.mode: enforce` in finops.yaml to act."
    )


def _teams_line(news: _Channel, config: FinOpsConfig, *, plain: bool = False) -> str:
    teams = sorted(t for t in news.teams if t)
    unrouted = " (no route in notifications.teams)"
    named_teams = [t if plain or t.lower() in config.notifications.teams else t + unrouted for t in teams]
    parts = [("" if plain else "*") + escape(name) + ("" if plain else "*") for name in named_teams]
    if None in news.teams:
        parts.append("resources without an owning team")
    if not parts:
        return "default channel"
    return ("team " if len(parts) == 1 and teams else "for ") + ", ".join(parts)


def _failure_line(item: Item, news: _Channel, words: Presenter) -> str:
    error = item.error or ""
    what = f"{escape(words.verb(item.action.action).failed)}: {e(error, 300)}"
    return f"{_resource_line(item, news, words)}\n      {what}\n      → {words.hint(error)}"


def _resource_line(item: Item, news: _Channel, words: Presenter) -> str:
    action, target = item.action, item.target
    parts = [words.kind(action)]
    size = words.size(action)
    if size:
        parts.append(size)
    parts += [account(target), escape(target.region)]
    if len(news.teams) > 1:
        parts.append(f"team {e(action.team or target.team or 'none', 40)}")
    return f"• {named(action.name, action.resource)} · " + " · ".join(parts)


# --- holds, skipped, unreachable, paused -------------------------------------------------------------------------


def _hold_blocks(holds: Sequence[_Hold], words: Presenter, more: str) -> list[dict[str, Any]]:
    """One section per topic ("Circuit breaker tripped: ..." -> *Circuit breaker tripped*), a target a line."""
    by_topic: dict[str, list[str]] = defaultdict(list)
    for hold in sorted(holds, key=lambda h: (h.target, h.text)):
        topic, _, rest = hold.text.partition(": ")
        if not rest or len(topic) > 40:
            topic, rest = "Held back", hold.text
        by_topic[topic].append(f"• {account(hold.target)} · {escape(hold.target.region)}: {e(rest, 600)}")
    topics = sorted(by_topic, key=lambda t: (-len(by_topic[t]), t))
    if len(topics) > MAX_HOLD_TOPICS:
        shared = [line for topic in topics[MAX_HOLD_TOPICS - 1 :] for line in by_topic.pop(topic)]
        topics = [*topics[: MAX_HOLD_TOPICS - 1], "Held back"]
        by_topic["Held back"] = by_topic.get("Held back", []) + shared
    blocks = []
    for topic in topics:
        heading = f"{words.hold_emoji.get(topic, ':warning:')} *{e(topic, 40)}*"
        blocks.append(list_section(heading, by_topic[topic], limit=MAX_TARGETS, more=more))
    return blocks


def _skipped_section(news: _Channel, more: str) -> dict[str, Any]:
    by_reason: dict[str, list[str]] = defaultdict(list)
    for _, skip in sorted(news.skipped, key=lambda ts: (ts[1].reason, ts[0], ts[1].name or ts[1].resource)):
        by_reason[skip.reason].append(e(skip.name or skip.resource, 60))
    lines = []
    for reason, names in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        rest = len(names) - MAX_SKIP_NAMES
        listed = ", ".join(names[:MAX_SKIP_NAMES]) + (f" and {rest} more" if rest > 0 else "")
        lines.append(f"• *{e(reason, 150)}* ({len(names)}): {listed}")
    heading = f":information_source: *Left alone ({len(news.skipped)})*"
    return list_section(heading, lines, limit=MAX_SKIP_REASONS, more=more, unit="reason")


def _unreachable_blocks(
    results: Sequence[TargetResult], ctx: RunContext, config: FinOpsConfig, more: str
) -> list[dict[str, Any]]:
    ordered = sorted(results, key=lambda r: r.target)
    lines = [
        f"• {account(r.target)} · {escape(r.target.region)}: {e(r.error or 'failed without an error message', 300)}"
        for r in ordered
    ]
    unknown = sum(1 for r in ordered if _outcome_unknown(r.error))
    heading = (
        f":warning: *Not reached ({len(results)} account/region{plural(len(results))})*: nothing was done there"
        if not unknown
        else f":warning: *Failed ({len(results)} account/region{plural(len(results))})*: "
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
        list_section(heading, lines, limit=MAX_TARGETS, more=more),
        section("*What to do*\n" + "\n".join(fixes) + "\n" + rerun),
    ]


def _outcome_unknown(error: str | None) -> bool:
    """The worker did not come back (or stopped on a bug): it may have acted before it did."""
    return error is not None and error.startswith(("worker failed", "the Map recorded no result", "unexpected error"))


def _role_refused(error: str | None) -> bool:
    return error is not None and any(marker in error for marker in _UNREACHABLE_MARKERS)


def _paused_line(results: Sequence[TargetResult], config: FinOpsConfig) -> str:
    accounts = len({r.target.account for r in results})
    why = next((r.error for r in results if r.error), None)
    reason = f" ({e(why, 200)})" if why else ""
    return (
        f":double_vertical_bar: *Paused* in {len(results)} target{plural(len(results))} ({accounts} "
        f"account{plural(accounts)}) by the kill switch{reason}: nothing was planned or changed there; clear "
        f"`{escape(config.safety.kill_switch_parameter)}` to resume."
    )


# --- ordering ------------------------------------------------------------------------------------------------------


def _in_order(
    acted: Mapping[tuple[str, bool], list[Item]], words: Presenter
) -> list[tuple[tuple[str, bool], list[Item]]]:
    """The presenter's actions in its order, then any other action by name; done before would-do."""
    return sorted(acted.items(), key=lambda kv: (words.order(kv[0][0]), kv[0][0], kv[0][1]))


def _sorted(items: Iterable[Item]) -> list[Item]:
    return sorted(items, key=lambda i: (i.target, i.action.name or i.action.resource, i.action.resource))
