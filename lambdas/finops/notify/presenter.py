"""What a capability tells the run digest: how it words its kinds and actions, and what it adds to a digest.

The digest (:mod:`finops.notify.digest`) collects every target's result per channel and lays the message out: the
header and its tally, failures with their hints and mentions, unreachable and paused targets, the targets a safety
net held back, the skips grouped by reason, every list cut to fit Slack. A :class:`Presenter` gives it the words:
"EC2 instance" or "EBS volume", "2 stopped" or "3 marked", the saving after a line, the sections after a list
(how to keep a marked volume), the money summary and what a failure's error means for this capability.

The helpers here (sections, lists that end in "... and N more", escaping) are what a presenter builds blocks with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from finops.engine.model import Action, RunContext, Target
from finops.models.base import Mode
from finops.models.config import FinOpsConfig
from finops.notify.blocks import clip, escape

__all__ = [
    "ACCESS_DENIED_HINT",
    "MAX_ACTED",
    "MAX_BLOCKS",
    "NO_OUTCOME",
    "SECTION_TEXT_LIMIT",
    "DigestRun",
    "Groups",
    "Item",
    "Presenter",
    "Verb",
    "account",
    "context",
    "day",
    "e",
    "list_section",
    "named",
    "plural",
    "section",
    "utc",
    "when",
]

MAX_BLOCKS = 50  # Slack's limit for a message
SECTION_TEXT_LIMIT = 3000  # Slack's limit for a section's text
MAX_ACTED = 20  # resources listed per action before "... and N more"
NO_OUTCOME = "no result recorded: the run did not report what happened to this action"
ACCESS_DENIED_HINT = (
    "the member role may not do this here: update the FinOps member StackSet in this account, or check the "
    "service control policies."
)
_RESERVED = 200  # room kept in every section for its "... and N more" line


@dataclass(frozen=True, slots=True)
class Item:
    """One action of one target as the digest lists it: done (with its verified ``after``), would-do, or failed."""

    target: Target
    action: Action
    error: str | None = None  # only for failures
    after: Mapping[str, Any] = field(default_factory=dict)  # the verified outcome's ``after`` (enforce mode)


Groups = Mapping[tuple[str, bool], Sequence[Item]]  # (action, would-do) -> the items, as the digest collected them


@dataclass(frozen=True, slots=True)
class DigestRun:
    """What every hook may need besides the items: the run, the config and where "... and N more" points."""

    ctx: RunContext
    config: FinOpsConfig

    @property
    def preview(self) -> bool:
        return self.ctx.mode is Mode.REPORT

    @property
    def more(self) -> str:
        return f"see the run summary, run id `{e(self.ctx.run_id, 100)}`"


@dataclass(frozen=True, slots=True)
class Verb:
    """How a digest words one action: ``2 stopped`` / ``would stop 2``, headed ``Stopped (2)`` / ``Would stop (2)``."""

    name: str  # the action as the plan names it: "stop", "mark", "gp3"
    past: str  # "stopped": the tally says "2 stopped"
    emoji: str = ":gear:"
    plan: str = ""  # "stop {n}": the tally says "would stop 2", the preview line "would stop 2, start 1"
    heading: str = ""  # "Stopped"
    would_heading: str = ""  # "Would stop"
    failed: str = ""  # "Stop failed"

    def __post_init__(self) -> None:
        defaults = {
            "plan": f"{self.name} {{n}}",
            "heading": self.past.capitalize(),
            "would_heading": f"Would {self.name}",
            "failed": f"{self.name.capitalize()} failed",
        }
        for name, default in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, default)

    def done(self, count: int) -> str:
        return f"{count} {self.past}"

    def would(self, count: int) -> str:
        return self.plan.format(n=count)


class Presenter:
    """The words and extra blocks of one capability's digest; this base lists any action plainly.

    A subclass sets ``verbs`` (in the order the digest lists them), ``kinds`` and ``hints``, and overrides the
    hooks it needs. Every hook returns mrkdwn that is already escaped.
    """

    verbs: tuple[Verb, ...] = ()
    kinds: Mapping[str, str] = {}
    # (markers, hint): the first entry with a marker in the error says what to do; markers compare case-sensitively
    hints: tuple[tuple[tuple[str, ...], str], ...] = (
        (("UnauthorizedOperation", "AccessDenied", "not authorized"), ACCESS_DENIED_HINT),
    )
    summary_after: frozenset[str] = frozenset()  # the summary follows the last listed of these actions
    hold_emoji: Mapping[str, str] = {}  # a hold's topic ("Circuit breaker tripped") -> its emoji

    def verb(self, name: str) -> Verb:
        for verb in self.verbs:
            if verb.name == name:
                return verb
        return Verb(name, past=f"{name} done")

    def order(self, name: str) -> int:
        return next((i for i, verb in enumerate(self.verbs) if verb.name == name), len(self.verbs))

    def kind(self, action: Action) -> str:
        return self.kinds.get(action.kind) or e(action.kind, 40)

    def size(self, action: Action) -> str | None:
        """What follows the kind on a resource's line: "m6i.large", "100 GiB gp2"."""
        return None

    def heading(self, verb: Verb, would: bool, items: Sequence[Item], run: DigestRun) -> str:
        label = verb.would_heading if would else verb.heading
        return f"{verb.emoji} *{escape(label)} ({len(items)})*"

    def suffix(self, item: Item, would: bool, run: DigestRun) -> str:
        """What follows a done or would-do resource's line: " — ~$6.42 (60 h × $0.107/h)"."""
        return ""

    def notes(self, verb: Verb, would: bool, items: Sequence[Item], run: DigestRun) -> list[dict[str, Any]]:
        """Blocks right after an action's list (how to keep a marked volume)."""
        return []

    def summary(self, acted: Groups, run: DigestRun) -> list[dict[str, Any]]:
        """The money: blocks placed after the last listed action of ``summary_after``."""
        return []

    def hint(self, error: str) -> str:
        if error == NO_OUTCOME:
            return "check the resource in the console: it may or may not have changed."
        for markers, hint in self.hints:
            if any(marker in error for marker in markers):
                return hint
        return "check the resource in the console."


# --- Block Kit and text helpers -----------------------------------------------------------------------------------


def list_section(heading: str, lines: Sequence[str], *, limit: int, more: str, unit: str = "") -> dict[str, Any]:
    """A section with the heading and as many lines as fit (at most ``limit``), then "... and N more"."""
    text, shown = heading, 0
    for line in lines[:limit]:
        line = clip(line, SECTION_TEXT_LIMIT - _RESERVED - len(heading) - 1)
        if len(text) + 1 + len(line) > SECTION_TEXT_LIMIT - _RESERVED:
            break
        text, shown = f"{text}\n{line}", shown + 1
    rest = len(lines) - shown
    if rest:
        what = f" {unit}{plural(rest)}" if unit else ""
        text += f"\n… and {rest} more{what} ({more})"
    return section(clip(text, SECTION_TEXT_LIMIT))


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT_LIMIT)}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_TEXT_LIMIT)}]}


def named(name: str | None, resource: str) -> str:
    ident = f"`{e(resource, 100)}`"
    return f"*{e(name, 60)}* {ident}" if name and name != resource else ident


def account(target: Target) -> str:
    return f"{e(target.name, 50)} ({escape(target.account)})" if target.name else escape(target.account)


def when(now: datetime) -> str:
    """``Fri 27 Nov 19:00 UTC``."""
    moment = utc(now)
    return f"{moment:%a} {moment.day} {moment:%b %H:%M} UTC"


def day(moment: datetime, now: datetime) -> str:
    """``Wed 9 Dec``, with the year when it is not ``now``'s."""
    moment, now = utc(moment), utc(now)
    year = f" {moment.year}" if moment.year != now.year else ""
    return f"{moment:%a} {moment.day} {moment:%b}{year}"


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def plural(count: int) -> str:
    return "" if count == 1 else "s"


def e(text: str, limit: int) -> str:
    """Clip, then escape: clipping after escaping could cut an entity in half."""
    return escape(clip(text, limit))
