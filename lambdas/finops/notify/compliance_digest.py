"""The tag compliance digest: one Slack message per team channel, and the Organization's KPIs in the default channel.

The reader is a team's engineer with a terminal open: each non-compliant resource of theirs, what is wrong with its
tags in words, and the AWS CLI command that fixes it, ready to paste (the right key added before a wrongly cased one
is deleted, so the resource is never without it); the ones marked, with the day by which to fix them and what
happens then; this run's stops, and how to start an instance again once tagged. The platform team reads the
Organization's KPIs in the default channel: compliance per type, team and account, the share of spend attributable
to a team, the cost allocation tags to activate, and the targets the run could not evaluate.

Weekly (the run of ``capabilities.tag_compliance.digest_weekday``), every team with resources gets its message and
the default channel the KPIs. On the other days only the channels with marks, stops or failures in this run hear
anything. A resource goes to its team's channel (its team tag when that names a team, else its account's team);
a team without a route in ``notifications.teams``, and a resource without a team, go to the default channel, which
says so. Report mode says what would be marked and stopped, and how to turn enforcement on.

Pure: the same results, KPIs, context and config give the same messages. One message per channel (the engine posts
once per run and channel), every section within Slack's 3000 characters and every message within its 50 blocks,
lists cut with "... and N more (see the run summary)".
"""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from finops.engine.model import Action, RunContext, Target, TargetResult
from finops.models.base import Mode
from finops.models.config import FinOpsConfig, TagCase, TagRule, tag_rule_problem
from finops.notify.blocks import SlackMessage, clip, escape, usd
from finops.notify.presenter import (
    MAX_BLOCKS,
    NO_OUTCOME,
    SECTION_TEXT_LIMIT,
    Presenter,
    account,
    context,
    day,
    e,
    list_section,
    plural,
    section,
    when,
)

__all__ = [
    "ENFORCE_SETTING",
    "KINDS",
    "MAX_BLOCKS",
    "SECTION_TEXT_LIMIT",
    "compliance_digests",
    "fix_commands",
    "problems_in_words",
]

KINDS: Mapping[str, str] = {
    "ec2:instance": "EC2 instance",
    "ec2:volume": "EBS volume",
    "ec2:snapshot": "EBS snapshot",
    "rds:db": "RDS instance",
    "rds:cluster": "RDS cluster",
}
EC2_KINDS = frozenset({"ec2:instance", "ec2:volume", "ec2:snapshot"})
MARK, UNMARK, STOP = "mark", "unmark", "stop"
ENFORCE_SETTING = "capabilities.tag_enforcement.mode: enforce"
HEADER_TEXT_LIMIT = 150
MAX_LISTED_ACCOUNTS = 25
MAX_LISTED_TEAMS = 20
MAX_TARGETS = 15
MAX_FAILED = 15  # failures listed before "... and N more"
MAX_ACTED = 20  # stops and unmarks listed before "... and N more": the non-compliant list has the room
MAX_FINDINGS = 60  # non-compliant resources (or the day's marks) listed in one message: a week's work, readable
_RESERVED = 200  # room kept in a section for its "... and N more" line
_TAIL_BLOCKS = 2  # the closing note and the context line every message ends with
_PLAIN = Presenter()  # the hints every capability shares (access denied, no outcome recorded)


# --- what a finding needs: the fix and the words ------------------------------------------------------------------


def fix_commands(finding: Mapping[str, Any], config: FinOpsConfig) -> list[str]:
    """The AWS CLI commands that make ``finding``'s resource compliant: one that adds (or overwrites) the tags it
    lacks or has wrong, then, for a key written in the wrong case (``Team`` for ``team``), one that deletes that key.

    A value the command cannot know is a placeholder to replace: ``<payments|data|platform>`` (the allowed values),
    ``<CC-[0-9]{4}>`` (the pattern), ``<value>``. A value only wrongly cased or padded is given corrected. A key
    there twice (``team`` and ``Team``: the capability's problem says ``team again``) keeps the right one as it is
    (fixed when it is itself invalid) and only the other is deleted.
    """
    kind, region, ident = str(finding.get("type", "")), str(finding.get("region", "")), str(finding.get("id", ""))
    rules = config.taxonomy.tags
    problems = {str(k): str(v) for k, v in (finding.get("problems") or {}).items()}
    invalid = {str(k): str(v) for k, v in (finding.get("invalid") or {}).items()}
    tags: dict[str, str] = {}
    wrong_keys: list[str] = []
    for key, value in sorted(
        invalid.items(), key=lambda kv: _rule(rules, kv[0]) is None or kv[0] != _key_of(rules, kv[0])
    ):
        rule = _rule(rules, key)
        if rule is None:
            continue
        if key == rule.key:
            tags[rule.key] = _corrected(rule, value) or _placeholder(rule)
            continue
        wrong_keys.append(key)
        if not problems.get(key, "").startswith(f"{rule.key} again"):  # the only one: its value moves to the key
            tags.setdefault(rule.key, _corrected(rule, value) or _placeholder(rule))
    for key in finding.get("missing") or ():
        rule = _rule(rules, str(key))
        tags.setdefault(rule.key if rule else str(key), _placeholder(rule))
    if not tags and not wrong_keys:
        return []
    pairs = " ".join(_tag_argument(key, value) for key, value in tags.items())
    commands = []
    if kind in EC2_KINDS:
        where = f"--region {shlex.quote(region)} --resources {shlex.quote(ident)}"
        if tags:
            commands.append(f"aws ec2 create-tags {where} --tags {pairs}")
        if wrong_keys:
            wrong = " ".join(_key_argument(key) for key in wrong_keys)
            commands.append(f"aws ec2 delete-tags {where} --tags {wrong}")
    elif kind.startswith("rds:"):
        arn = str(finding.get("arn") or _rds_arn(kind, region, str(finding.get("account", "")), ident))
        where = f"--region {shlex.quote(region)} --resource-name {shlex.quote(arn)}"
        if tags:
            commands.append(f"aws rds add-tags-to-resource {where} --tags {pairs}")
        if wrong_keys:
            keys = " ".join(shlex.quote(k) for k in wrong_keys)
            commands.append(f"aws rds remove-tags-from-resource {where} --tag-keys {keys}")
    elif finding.get("arn"):  # another type: the Resource Groups Tagging API takes any taggable ARN
        where = f"--region {shlex.quote(region)} --resource-arn-list {shlex.quote(str(finding['arn']))}"
        if tags:
            mapping = ",".join(f"{key}={value}" for key, value in tags.items())
            commands.append(f"aws resourcegroupstaggingapi tag-resources {where} --tags {_shell(mapping)}")
        if wrong_keys:
            keys = " ".join(shlex.quote(k) for k in wrong_keys)
            commands.append(f"aws resourcegroupstaggingapi untag-resources {where} --tag-keys {keys}")
    return commands


def problems_in_words(finding: Mapping[str, Any], config: FinOpsConfig) -> list[str]:
    """What is wrong with the resource's tags, one phrase a problem, in the capability's words where it gave them
    (``problems``), else the taxonomy's: ``no cost-center tag``, ``environment=Prod: values are written in lower
    case``, ``key Team: the taxonomy writes it team``."""
    rules = config.taxonomy.tags
    given = {str(k): str(v) for k, v in (finding.get("problems") or {}).items()}
    invalid = {str(k): str(v) for k, v in (finding.get("invalid") or {}).items()}
    misspelt = {rule.key for key in invalid if (rule := _rule(rules, key)) is not None and key != rule.key}
    words = []
    for key in finding.get("missing") or ():
        key = str(key)
        if key in misspelt:
            continue  # said below, with the key it is written as
        words.append(f"`{key}`: {given[key]}" if key in given else f"no `{key}` tag")
    for key, value in invalid.items():
        rule = _rule(rules, key)
        if key in given:
            why = given[key]
        elif rule is not None and key != rule.key:
            why = f"the taxonomy writes the key `{rule.key}`"
        elif rule is not None:
            why = tag_rule_problem(rule, value) or "not allowed"
        else:
            why = "not allowed"
        words.append(f"`{key}={value}`: {why}")
    return words


# --- collecting ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Finding:
    target: Target
    data: Mapping[str, Any]
    team: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.target.account, self.target.region, str(self.data.get("id", "")))


@dataclass(frozen=True, slots=True)
class _Acted:
    target: Target
    action: Action
    team: str | None
    would: bool = False
    error: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.target.account, self.target.region, self.action.resource)


@dataclass(slots=True)
class _Channel:
    """What one channel's message says, collected from every target's result."""

    teams: set[str | None] = field(default_factory=set)
    counts: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # type -> [total, ok]
    findings: list[_Finding] = field(default_factory=list)
    acted: dict[str, list[_Acted]] = field(default_factory=lambda: defaultdict(list))  # action -> done or would-do
    failed: list[_Acted] = field(default_factory=list)
    unrouted: dict[str, int] = field(default_factory=dict)  # team without a route -> its resources listed here
    not_listed: int = 0  # non-compliant resources the capability counted but did not list
    holds: list[tuple[Target, str]] = field(default_factory=list)  # what a target's plan held back for later runs

    def run_news(self) -> bool:
        """Marks, stops or failures in this run (or changes held back): what makes a channel hear about a day that is
        not the weekly one."""
        return bool(self.acted.get(MARK) or self.acted.get(STOP) or self.failed or self.holds)

    def has_anything(self) -> bool:
        return bool(self.counts or self.findings or self.acted or self.failed or self.not_listed or self.holds)


@dataclass(slots=True)
class _Run:
    ctx: RunContext
    config: FinOpsConfig
    channels: dict[str, _Channel] = field(default_factory=dict)
    unreachable: list[TargetResult] = field(default_factory=list)
    paused: list[TargetResult] = field(default_factory=list)
    accounts: dict[str, Target] = field(default_factory=dict)
    skips: dict[tuple[str, str, str], str] = field(default_factory=dict)  # resource -> why the plan left it alone

    @property
    def preview(self) -> bool:
        return self.ctx.mode is Mode.REPORT

    @property
    def more(self) -> str:
        return f"see the run summary, run id `{e(self.ctx.run_id, 100)}`"

    @property
    def default(self) -> str:
        return self.config.notifications.slack.default_channel

    def channel(self, team: str | None, *, resources: int = 0) -> _Channel:
        route = self.config.team_route(team)
        news = self.channels.setdefault(route.channel, _Channel())
        news.teams.add(team)
        if team and team not in self.config.notifications.teams and resources:
            news.unrouted[team] = news.unrouted.get(team, 0) + resources
        return news


def compliance_digests(
    results: Sequence[TargetResult],
    kpis: Mapping[str, Any],
    ctx: RunContext,
    config: FinOpsConfig,
    *,
    weekly: bool,
) -> list[SlackMessage]:
    """One message per channel with something to say, sorted by channel (see the module's docstring)."""
    run = _collect(results, ctx, config)
    messages = []
    default = run.default
    names = set(run.channels) | ({default} if weekly or run.unreachable or run.paused else set())
    for channel in sorted(names):
        news = run.channels.get(channel) or _Channel()
        org = weekly and channel == default
        unreachable = channel == default and bool(run.unreachable or run.paused)
        if weekly and not (org or news.has_anything()):
            continue
        if not weekly and not (news.run_news() or unreachable):
            continue
        messages.append(_render(channel, news, run, kpis, weekly=weekly, org=org))
    return messages


def _collect(results: Sequence[TargetResult], ctx: RunContext, config: FinOpsConfig) -> _Run:
    run = _Run(ctx, config)
    for result in results:
        target = result.target
        run.accounts.setdefault(target.account, target)
        if result.status == "failed" and not result.outcomes:
            run.unreachable.append(result)
            continue
        if result.status == "paused":
            run.paused.append(result)
            continue
        report = result.report or {}
        for kind, teams in (report.get("evaluated") or {}).items():
            for team, pair in (teams or {}).items():
                total, compliant = _pair(pair)
                counts = run.channel(_owner(team, target, config)).counts[str(kind)]
                counts[0] += total
                counts[1] += compliant
        for finding in report.get("noncompliant") or ():
            owner = _owner(finding.get("team"), target, config)
            run.channel(owner, resources=1).findings.append(_Finding(target, finding, owner))
        not_listed = report.get("noncompliant_not_listed")
        if isinstance(not_listed, int) and not_listed > 0:
            run.channel(_owner(None, target, config)).not_listed += not_listed
        for skip in result.skipped:
            run.skips[(target.account, target.region, skip.resource)] = skip.reason
        for hold in result.holds:
            account_channel = run.channel(_owner(None, target, config))
            account_channel.holds.append((target, hold))
            on_call = run.channels.setdefault(run.default, _Channel())
            if on_call is not account_channel:
                on_call.holds.append((target, hold))
        _collect_actions(run, result)
    return run


def _collect_actions(run: _Run, result: TargetResult) -> None:
    target, config = result.target, run.config
    if run.ctx.mode is Mode.REPORT or result.mode is Mode.REPORT:
        for action in result.planned:
            owner = _owner(action.team, target, config)
            run.channel(owner).acted[action.action].append(_Acted(target, action, owner, would=True))
        return
    reported = set()
    for outcome in result.outcomes:
        action = outcome.action
        owner = _owner(action.team, target, config)
        reported.add((action.resource, action.kind, action.action))
        item = _Acted(target, action, owner, error=None if outcome.ok else outcome.error or "failed, no error given")
        news = run.channel(owner)
        if outcome.ok:
            news.acted[action.action].append(item)
        else:
            news.failed.append(item)
    for action in result.planned:
        if (action.resource, action.kind, action.action) not in reported:
            owner = _owner(action.team, target, config)
            run.channel(owner).failed.append(_Acted(target, action, owner, error=NO_OUTCOME))


def _owner(value: object, target: Target, config: FinOpsConfig) -> str | None:
    """The resource's team when its tag names a team of the taxonomy (case aside), else its account's team."""
    team = str(value or "").strip().lower()
    if team and _is_team(team, config):
        return team
    return (target.team or "").strip().lower() or None


def _is_team(team: str, config: FinOpsConfig) -> bool:
    if team in config.notifications.teams:
        return True
    rule = _rule(config.taxonomy.tags, config.notifications.owner_tag_key)
    if rule is None or (not rule.allowed_values and rule.pattern is None):
        return True
    if rule.allowed_values:
        return team in {v.strip().lower() for v in rule.allowed_values}
    return rule.pattern is not None and re.fullmatch(rule.pattern, team) is not None


# --- rendering ----------------------------------------------------------------------------------------------------


def _render(
    channel: str, news: _Channel, run: _Run, kpis: Mapping[str, Any], *, weekly: bool, org: bool
) -> SlackMessage:
    ctx, config = run.ctx, run.config
    routed = sorted(t for t in news.teams if t and config.team_route(t).channel == channel)
    handles = list(dict.fromkeys(m for t in routed if (m := config.team_route(t).mention)))
    to_fix = bool(news.findings or news.acted.get(MARK) or news.acted.get(STOP) or news.failed)
    mentions = " ".join(handles) + " " if handles and to_fix else ""
    headline = _headline(channel, news, run, kpis, org=org)
    moment = f" — {when(ctx.now)}"
    head = clip(f"Tag compliance{' (preview)' if run.preview else ''}: {headline}", HEADER_TEXT_LIMIT - len(moment))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head + moment}},
        context(f"{_teams_line(news, config)} · enforcement in {ctx.mode} mode · run `{e(ctx.run_id, 100)}`"),
    ]
    lead = _lead(news, run, weekly=weekly)
    if mentions or lead:
        blocks.append(section(f"{mentions}{lead or 'Your resources need tags: the fixes are below.'}"))
    if org:
        blocks += _org_blocks(kpis, run)
    if news.unrouted:
        blocks.append(section(_unrouted_line(news.unrouted)))
    if news.counts and weekly and not org:
        blocks.append(section(_compliance_line(news)))
    if news.failed:
        blocks.append({"type": "divider"})
        lines = [_failure_line(item, news, run) for item in _sorted(news.failed)]
        blocks += _pack(f":x: *Failed ({len(news.failed)})*: not changed", lines, run, blocks, limit=MAX_FAILED)
    if news.acted.get(STOP):
        items = _sorted(news.acted[STOP])
        label = "Would stop" if items[0].would else "Stopped"
        heading = f":octagonal_sign: *{label} ({len(items)})*: still non-compliant after the grace period"
        blocks += _pack(heading, [_stop_line(item, news, run) for item in items], run, blocks, limit=MAX_ACTED)
    if weekly:
        blocks += _findings_blocks(news, run, blocks)
    elif news.acted.get(MARK):
        blocks += _marks_blocks(news, run, blocks)
    if news.acted.get(UNMARK):
        items = _sorted(news.acted[UNMARK])
        label = "Would unmark" if items[0].would else "Unmarked"
        heading = f":white_check_mark: *{label} ({len(items)})*: compliant now, the mark is removed"
        blocks += _pack(
            heading,
            [_resource_line(i.target, i.action.kind, i.action.resource, i.action.name, i.team, news) for i in items],
            run,
            blocks,
            limit=MAX_ACTED,
        )
    if news.holds:
        lines = [f"• {account(t)} · {escape(t.region)}: {e(text, 600)}" for t, text in sorted(news.holds)]
        blocks.append(list_section(":warning: *Held back*", lines, limit=MAX_TARGETS, more=run.more))
    if org or channel == run.default:
        blocks += _unreachable_blocks(run, blocks)
    footer = f"{escape(ctx.capability)} {escape(ctx.kind)} run `{e(ctx.run_id, 100)}`"
    if news.findings or news.acted.get(MARK):
        blocks.append(context(_deadline_note(run)))
        footer += " · run the commands with credentials for the resource's account"
    blocks.append(context(footer))
    text = f"{mentions}Tag compliance{' (preview, nothing changed)' if run.preview else ''}: {headline}"
    return SlackMessage(channel=channel, text=clip(text, 3000), blocks=tuple(_fit(blocks, run)), mentions=mentions)


def _headline(channel: str, news: _Channel, run: _Run, kpis: Mapping[str, Any], *, org: bool) -> str:
    parts = []
    count = len(news.findings) + news.not_listed
    if org:
        resources = kpis.get("resources") or {}
        total, compliant = _pair([resources.get("total"), resources.get("compliant")])
        parts.append(f"Organization {_pct(compliant, total)} compliant" if total else "Organization")
        if count:
            parts.append(f"{count} non-compliant listed here")
    else:
        total, compliant = _totals(news)
        teams = ", ".join(sorted(t for t in news.teams if t)) or ("resources without a team" if news.teams else "")
        if teams:
            parts.append(f"{teams} {_pct(compliant, total)} compliant" if total else teams)
        if count:
            parts.append(f"{count} non-compliant")
    for action, past, would in ((MARK, "marked", "would mark"), (STOP, "stopped", "would stop")):
        items = news.acted.get(action) or []
        if items:
            parts.append(f"{would} {len(items)}" if items[0].would else f"{len(items)} {past}")
    if news.failed:
        parts.append(f"{len(news.failed)} failed")
    if news.holds:
        held = len({target for target, _ in news.holds})
        parts.append(f"changes held back in {held} account/region{plural(held)}")
    if channel == run.default and run.unreachable:
        parts.append(f"{len(run.unreachable)} account/region{plural(len(run.unreachable))} not evaluated")
    return ", ".join(parts) or "nothing to report"


def _lead(news: _Channel, run: _Run, *, weekly: bool) -> str:
    lines = []
    if run.preview and (news.acted or news.findings):
        would = [f"{verb} {len(news.acted[a])}" for a, verb in ((MARK, "mark"), (STOP, "stop")) if news.acted.get(a)]
        doing = f"would {', '.join(would)}; " if would else ""
        enforcement = run.config.capabilities.tag_enforcement
        if enforcement.paused:
            how = "Enforcement is paused: set `capabilities.tag_enforcement.paused: false` in finops.yaml to resume."
        else:
            how = (
                f"Set `{ENFORCE_SETTING}` in finops.yaml to mark non-compliant resources, tell their owners and stop "
                "the non-prod instances not fixed in time."
            )
        lines.append(f":eyes: *Preview (report mode)*: {doing}nothing was changed. {how}")
    count = len(news.findings) + news.not_listed
    if weekly and count:
        lines.append(
            f":label: *{count} resource{plural(count)} need{'s' if count == 1 else ''} tags*: each line "
            "below says what is wrong and the command that fixes it."
        )
    elif weekly and news.counts:
        lines.append(":tada: Every resource is tagged as the taxonomy asks.")
    return "\n".join(lines)


def _teams_line(news: _Channel, config: FinOpsConfig) -> str:
    teams = sorted(t for t in news.teams if t)
    parts = [f"*{escape(t)}*" + ("" if t in config.notifications.teams else " (no route)") for t in teams]
    if None in news.teams:
        parts.append("resources without an owning team")
    if not parts:
        return "the Organization"
    return ("team " if len(parts) == 1 and teams else "for ") + ", ".join(parts)


def _unrouted_line(unrouted: Mapping[str, int]) -> str:
    lines = [":warning: *Sent here: no route in `notifications.teams`*"]
    for team, count in sorted(unrouted.items()):
        lines.append(
            f"• team *{e(team, 60)}* ({count} resource{plural(count)}): add `notifications.teams.{e(team, 60)}: "
            '{channel: "#..."}` to finops.yaml so its digest goes to its own channel'
        )
    return "\n".join(lines)


def _compliance_line(news: _Channel) -> str:
    total, compliant = _totals(news)
    by_type = " · ".join(
        f"{escape(KINDS.get(kind, kind))} {_pct(ok, n)} ({ok}/{n})"
        for kind, (n, ok) in sorted(news.counts.items())
        if n
    )
    return (
        f":bar_chart: *Compliance*: {_pct(compliant, total)} ({compliant:,} of {total:,} resources)"
        + (f"\n{by_type}" if by_type else "")
        + "\n_Counts the resources tagged with the team, and those in its accounts whose team tag is missing or "
        "names no team._"
    )


def _findings_blocks(news: _Channel, run: _Run, so_far: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every non-compliant resource with what is wrong, its mark or this run's, and the fix."""
    if not news.findings and not news.not_listed:
        return []
    marks = {item.key: item for item in news.acted.get(MARK, ())}
    stops = {item.key for item in news.acted.get(STOP, ())}
    ordered = sorted(news.findings, key=lambda f: (f.target, str(f.data.get("type")), str(f.data.get("id"))))
    lines = [_finding_line(f, news, run, marks.get(f.key), f.key in stops) for f in ordered]
    listed = {f.key for f in news.findings}
    lines += [_mark_line(item, news, run) for item in _sorted(marks.values()) if item.key not in listed]
    count = len(news.findings) + news.not_listed
    heading = f":label: *Non-compliant ({count})*"
    return [{"type": "divider"}, *_pack(heading, lines, run, so_far, hidden=news.not_listed, limit=MAX_FINDINGS)]


def _marks_blocks(news: _Channel, run: _Run, so_far: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The day's marks, each with what is wrong and the fix (from the resource's finding)."""
    findings = {f.key: f for f in news.findings}
    items = _sorted(news.acted[MARK])
    lines = []
    for item in items:
        finding = findings.get(item.key)
        if finding is not None:
            lines.append(_finding_line(finding, news, run, item, stopped=False))
        else:
            lines.append(_mark_line(item, news, run))
    label = "Would mark" if items[0].would else "Marked"
    heading = f":hourglass_flowing_sand: *{label} ({len(items)})*: fix the tags before the day on each line"
    return [{"type": "divider"}, *_pack(heading, lines, run, so_far, limit=MAX_FINDINGS)]


def _mark_line(item: _Acted, news: _Channel, run: _Run) -> str:
    """A mark whose resource the run's findings do not list (cut from the report): what the plan said."""
    line = _resource_line(item.target, item.action.kind, item.action.resource, item.action.name, item.team, news)
    return f"{line}\n      {e(item.action.reason, 300)}\n      {_mark_words(item, None, run)}"


def _finding_line(finding: _Finding, news: _Channel, run: _Run, mark: _Acted | None, stopped: bool) -> str:
    data = finding.data
    line = _resource_line(
        finding.target, str(data.get("type", "")), str(data.get("id", "")), data.get("name"), finding.team, news
    )
    words = problems_in_words(data, run.config)
    parts = [f"{line}\n      {escape('; '.join(words)) if words else 'tags not as the taxonomy asks'}"]
    if data.get("exempt"):
        status = f":shield: never marked or stopped: {e(str(data['exempt']), 200)}"
    elif stopped:
        status = ":octagonal_sign: stopped in this run: start it again once tagged"
    else:
        status = _mark_words(mark, data, run)
        skipped = run.skips.get(finding.key)
        if data.get("overdue") and skipped:
            status += f" · past it, not stopped: {e(skipped, 200)}"
        elif data.get("overdue"):
            status += " · past it"
    if status:
        parts.append(f"      {status}")
    parts += [f"      `{e(command, 900)}`" for command in fix_commands(data, run.config)]
    return "\n".join(parts)


def _mark_words(mark: _Acted | None, data: Mapping[str, Any] | None, run: _Run) -> str:
    deadline = _deadline((mark.action.details.get("deadline") if mark else None) or (data or {}).get("deadline"), run)
    if mark is not None and mark.would:
        return f":hourglass_flowing_sand: would be marked: fix by {deadline}" if deadline else "would be marked"
    if mark is not None:
        return f":hourglass_flowing_sand: marked in this run: fix by *{deadline}*" if deadline else "marked in this run"
    return f":hourglass_flowing_sand: marked: fix by *{deadline}*" if deadline else ""


def _stop_line(item: _Acted, news: _Channel, run: _Run) -> str:
    action, target = item.action, item.target
    line = _resource_line(target, action.kind, action.resource, action.name, item.team, news)
    region = shlex.quote(target.region)
    ident = shlex.quote(action.resource)
    start = {
        "ec2:instance": f"aws ec2 start-instances --region {region} --instance-ids {ident}",
        "rds:db": f"aws rds start-db-instance --region {region} --db-instance-identifier {ident}",
        "rds:cluster": f"aws rds start-db-cluster --region {region} --db-cluster-identifier {ident}",
    }.get(action.kind)
    after = f"\n      once tagged, start it again: `{e(start, 400)}`" if start and not item.would else ""
    return f"{line}\n      {e(action.reason, 300)}{after}"


def _failure_line(item: _Acted, news: _Channel, run: _Run) -> str:
    action = item.action
    line = _resource_line(item.target, action.kind, action.resource, action.name, item.team, news)
    error = item.error or ""
    return f"{line}\n      {escape(action.action.capitalize())} failed: {e(error, 300)}\n      → {_PLAIN.hint(error)}"


def _resource_line(target: Target, kind: str, resource: str, name: object, team: str | None, news: _Channel) -> str:
    label = f"*{e(str(name), 60)}* `{e(resource, 100)}`" if name and name != resource else f"`{e(resource, 100)}`"
    parts = [escape(KINDS.get(kind, kind)), account(target), escape(target.region)]
    if len(news.teams) > 1:
        parts.append(f"team {e(team or 'none', 40)}")
    return f"• {label} · " + " · ".join(parts)


def _deadline_note(run: _Run) -> str:
    enforcement = run.config.capabilities.tag_enforcement
    days = enforcement.grace_days
    return (
        f"On the day on its line ({days} day{plural(days)} after the mark), a running EC2 instance still "
        "non-compliant is stopped unless it is prod or protected; volumes, snapshots and RDS databases stay marked "
        "and listed. Nothing is ever deleted for its tags. Fix the tags before then and the next run removes the mark."
        + (" In report mode nothing is marked or stopped." if run.preview else "")
    )


# --- the Organization's KPIs (default channel, weekly) -------------------------------------------------------------


def _org_blocks(kpis: Mapping[str, Any], run: _Run) -> list[dict[str, Any]]:
    blocks = []
    resources = kpis.get("resources") or {}
    total, compliant = _pair([resources.get("total"), resources.get("compliant")])
    by_type = kpis.get("by_type") or {}
    types = " · ".join(
        f"{escape(KINDS.get(str(kind), str(kind)))} {_pct(ok, n)} ({ok:,}/{n:,})"
        for kind, counts in sorted(by_type.items())
        for n, ok in [_pair([counts.get("total"), counts.get("compliant")])]
        if n
    )
    blocks.append(
        section(
            f":bar_chart: *Resources*: {_pct(compliant, total)} compliant ({compliant:,} of {total:,})"
            + (f"\n{types}" if types else "")
        )
    )
    teams = kpis.get("by_team") or {}
    team_lines = [
        f"• {e(str(team) or 'no team tag', 60)}: {_pct(ok, n)} ({ok:,}/{n:,}), {n - ok:,} non-compliant"
        for team, counts in sorted(teams.items(), key=lambda kv: (str(kv[0]) == "", str(kv[0])))
        for n, ok in [_pair([counts.get("total"), counts.get("compliant")])]
    ]
    if team_lines:
        blocks.append(list_section("*By team*", team_lines, limit=MAX_LISTED_TEAMS, more=run.more))
    accounts = kpis.get("by_account") or {}
    ranked = sorted(
        accounts.items(),
        key=lambda kv: (_ratio(kv[1]), str(kv[0])),
    )
    account_lines = [
        f"• {_account_label(str(ident), counts.get('name'), run)}: {_pct(ok, n)} ({ok:,}/{n:,})"
        for ident, counts in ranked
        for n, ok in [_pair([counts.get("total"), counts.get("compliant")])]
    ]
    if account_lines:
        blocks.append(
            list_section(
                "*By account* (least compliant first)", account_lines, limit=MAX_LISTED_ACCOUNTS, more=run.more
            )
        )
    spend = kpis.get("spend")
    if isinstance(spend, Mapping):
        blocks += _spend_blocks(spend)
    return blocks


def _spend_blocks(spend: Mapping[str, Any]) -> list[dict[str, Any]]:
    key = e(str(spend.get("tag_key", "team")), 60)
    period = spend.get("period") or {}
    span = (
        f"{e(str(period.get('start')), 12)} → {e(str(period.get('end')), 12)} (end excluded)"
        if period.get("start")
        else "the last 30 days"
    )
    notes = [f"• {escape(str(note))}" for note in spend.get("notes") or ()]
    if "error" in spend:
        text = f":moneybag: *Spend attributable to a team*: not available this run ({e(str(spend['error']), 400)})"
        return [section("\n".join([text, *notes]))]
    percent = spend.get("percent_attributable")
    total = _decimal(spend.get("total_usd"))
    share = f"{percent:g}% of {usd(total)}" if isinstance(percent, int | float) else f"no share ({usd(total)})"
    lines = [
        f":moneybag: *Spend attributable to a team*: {share}, tag `{key}`, {span}, "
        f"{e(str(spend.get('metric', 'AmortizedCost')), 40)} without credits, refunds and tax"
    ]
    for team, amount in sorted((spend.get("by_team") or {}).items(), key=lambda kv: (-float(kv[1]), kv[0])):
        lines.append(f"• {e(str(team), 60)}: {usd(_decimal(amount))}")
    unknown = spend.get("unknown_teams") or {}
    if unknown:
        listed = ", ".join(f"`{e(str(v), 40)}` {usd(_decimal(a))}" for v, a in sorted(unknown.items()))
        lines.append(f"• tagged, but not a known team: {listed}")
    lines.append(f"• unattributed (no `{key}` tag): {usd(_decimal(spend.get('unattributed_usd')))}")
    statuses = spend.get("cost_allocation_tags") or {}
    if statuses:
        lines.append(
            "Cost allocation tags: " + ", ".join(f"`{e(str(k), 60)}` {e(str(v), 20)}" for k, v in statuses.items())
        )
    return [section(clip("\n".join([*lines, *notes]), SECTION_TEXT_LIMIT))]


def _unreachable_blocks(run: _Run, so_far: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if run.unreachable:
        ordered = sorted(run.unreachable, key=lambda r: r.target)
        lines = [
            f"• {account(r.target)} · {escape(r.target.region)}: {e(r.error or 'failed without an error message', 300)}"
            for r in ordered
        ]
        count = len(ordered)
        heading = (
            f":warning: *Not evaluated ({count} account/region{plural(count)})*: not in these figures; deploy the "
            f"member role `{escape(run.config.organization.member_role_name)}` there or exclude the account"
        )
        blocks.append(list_section(heading, lines, limit=MAX_TARGETS, more=run.more))
    if run.paused:
        count = len(run.paused)
        blocks.append(
            section(
                f":double_vertical_bar: *Paused* in {count} target{plural(count)} by the kill switch: not evaluated; "
                f"clear `{escape(run.config.safety.kill_switch_parameter)}` to resume."
            )
        )
    return blocks


# --- Slack's limits -----------------------------------------------------------------------------------------------


def _pack(
    heading: str,
    lines: Sequence[str],
    run: _Run,
    so_far: Sequence[dict[str, Any]],
    *,
    hidden: int = 0,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """At most ``limit`` of ``lines`` in as many sections as the message has blocks left for (each within Slack's
    3000 characters), then "... and N more" for the rest and the ``hidden`` ones the capability did not list."""
    budget = max(1, MAX_BLOCKS - len(so_far) - _TAIL_BLOCKS - 4)
    sections: list[str] = []
    text, shown = heading, 0
    for line in lines[:limit]:
        line = clip(line, SECTION_TEXT_LIMIT - _RESERVED - 1)
        if len(text) + 1 + len(line) > SECTION_TEXT_LIMIT - _RESERVED:
            if len(sections) + 1 >= budget:
                break
            sections.append(text)
            text = line
        else:
            text = f"{text}\n{line}"
        shown += 1
    rest = len(lines) - shown + hidden
    if rest:
        text += f"\n… and {rest} more ({run.more})"
    sections.append(text)
    return [section(clip(t, SECTION_TEXT_LIMIT)) for t in sections]


def _fit(blocks: list[dict[str, Any]], run: _Run) -> list[dict[str, Any]]:
    """At most Slack's 50 blocks: the last one (the run's context) kept, the overflow before it said."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    kept = blocks[: MAX_BLOCKS - 2]
    return [*kept, context(f"… {len(blocks) - len(kept) - 1} more sections ({run.more})"), blocks[-1]]


# --- values -------------------------------------------------------------------------------------------------------


def _key_of(rules: Iterable[TagRule], key: str) -> str | None:
    rule = _rule(rules, key)
    return rule.key if rule else None


def _rule(rules: Iterable[TagRule], key: str) -> TagRule | None:
    listed = list(rules)
    exact = next((r for r in listed if r.key == key), None)
    return exact or next((r for r in listed if r.key.strip().lower() == key.strip().lower()), None)


def _corrected(rule: TagRule, value: str) -> str | None:
    """The value the rule accepts that ``value`` was clearly meant to be (padding, case), or None."""
    candidates = [value, value.strip(), value.strip().lower(), value.strip().upper()]
    candidates += [v for v in rule.allowed_values if v.strip().lower() == value.strip().lower()]
    if rule.case is TagCase.EXACT and not rule.allowed_values and rule.pattern is None:
        candidates = candidates[:2]
    return next((c for c in candidates if c and tag_rule_problem(rule, c) is None), None)


def _placeholder(rule: TagRule | None) -> str:
    if rule is not None and rule.allowed_values:
        return "<" + "|".join(rule.allowed_values) + ">"
    if rule is not None and rule.pattern:
        return "<" + rule.pattern.removeprefix("^").removesuffix("$") + ">"
    return "<value>"


def _tag_argument(key: str, value: str) -> str:
    return _shell(f"Key={key},Value={value}")


def _shell(token: str) -> str:
    """``token`` quoted for a POSIX shell, unless it holds a ``<placeholder>`` to replace (quoting would hide it)."""
    return token if re.search(r"<[^<>]+>", token) else shlex.quote(token)


def _key_argument(key: str) -> str:
    return shlex.quote(f"Key={key}")


def _rds_arn(kind: str, region: str, account_id: str, ident: str) -> str:
    return f"arn:aws:rds:{region}:{account_id}:{'cluster' if kind == 'rds:cluster' else 'db'}:{ident}"


def _deadline(value: object, run: _Run) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text[:10]), datetime.min.time(), UTC)
        except ValueError:
            return e(text, 40)
    return day(moment, run.ctx.now)


def _pair(value: object) -> tuple[int, int]:
    """``[total, compliant]`` as two counts (0 for anything else)."""
    if isinstance(value, list | tuple) and len(value) == 2:
        total, compliant = (v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0 for v in value)
        return total, min(compliant, total)
    return 0, 0


def _totals(news: _Channel) -> tuple[int, int]:
    return sum(n for n, _ in news.counts.values()), sum(ok for _, ok in news.counts.values())


def _ratio(counts: Mapping[str, Any]) -> float:
    total, compliant = _pair([counts.get("total"), counts.get("compliant")])
    return compliant / total if total else 1.0


def _pct(compliant: int, total: int) -> str:
    if not total:
        return "n/a"
    value = round(compliant / total * 100, 1)
    return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"


def _account_label(ident: str, name: object, run: _Run) -> str:
    """``name (id)``: the name the KPIs carry, else the one the run's targets had, else the id alone."""
    target = run.accounts.get(ident)
    known = name if isinstance(name, str) and name else (target.name if target is not None else None)
    return account(Target(ident, "", name=known))


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _sorted(items: Iterable[_Acted]) -> list[_Acted]:
    return sorted(items, key=lambda i: (i.target, i.action.name or i.action.resource, i.action.resource))
