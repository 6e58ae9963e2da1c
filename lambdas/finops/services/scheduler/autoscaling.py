"""Stop and start Auto Scaling groups by their sizes, remembering the sizes in a tag on the group.

Stop: write ``finops:scheduler-sizes`` = ``min=1,desired=2,max=4`` (CreateOrUpdateTags), and only once that is
written, UpdateAutoScalingGroup to 0/0/0. A group already at 0/0/0 that carries the tag was stopped by us before:
its tag holds the real sizes and is never overwritten (a second stop would otherwise record 0/0/0 and lose them).

Start: the sizes come from the tag on the group as read now (not from the plan's copy), back to exactly those with
UpdateAutoScalingGroup, then DeleteTags. Without a readable tag the start fails: the sizes to restore are unknown.

Both are verified by reading the groups back: the sizes must be exactly what was set, and the tag there (stop) or
gone (start).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from finops.aws.batch import in_batches
from finops.aws.errors import error_text
from finops.engine.model import Action, Outcome
from finops.rules.scheduler_tags import SIZES_TAG, GroupSizes

PERMISSIONS: tuple[str, ...] = (
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DeleteTags",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:UpdateAutoScalingGroup",
)
VERBS = ("stop", "start")
DESCRIBE_BATCH = 50  # group names per DescribeAutoScalingGroups call

_ZERO = GroupSizes(0, 0, 0)


@dataclass(frozen=True, slots=True)
class _Expected:
    """What the group must read back as after the action."""

    sizes: GroupSizes
    tag: str | None  # the sizes tag's value, or None: no tag


def apply(autoscaling: Any, actions: Sequence[Action]) -> list[Outcome]:
    """Carry out ``actions`` (kind ``autoscaling:group``) and verify each; one outcome per action, in order."""
    by_name = _by_group(actions)
    groups = _describe(autoscaling, list(by_name))
    outcomes: dict[str, Outcome] = {}
    expected: dict[str, _Expected] = {}
    for name, action in by_name.items():
        group = groups.get(name)
        if isinstance(group, ClientError):
            outcomes[name] = Outcome(action, False, error=f"could not read the group: {error_text(group)}")
        elif group is None:
            outcomes[name] = Outcome(action, False, error=f"Auto Scaling group {name} not found")
        else:
            step = _stop(autoscaling, name, group) if action.action == "stop" else _start(autoscaling, name, group)
            if isinstance(step, str):
                outcomes[name] = Outcome(action, False, error=step)
            else:
                expected[name] = step
    if expected:
        after = _describe(autoscaling, list(expected))
        for name, wanted in expected.items():
            outcomes[name] = _verify(by_name[name], wanted, after.get(name))
    return [outcomes[action.resource] for action in actions]


def _by_group(actions: Sequence[Action]) -> dict[str, Action]:
    by_name: dict[str, Action] = {}
    for action in actions:
        if action.kind != "autoscaling:group" or action.action not in VERBS:
            raise ValueError(f"not an Auto Scaling group action: {action.kind} {action.action}")
        if action.resource in by_name:
            raise ValueError(f"two actions for {action.resource} in one plan")
        by_name[action.resource] = action
    return by_name


def _stop(autoscaling: Any, name: str, group: Mapping[str, Any]) -> _Expected | str:
    """Remember, then scale to zero; what the group must read back as, or why it failed."""
    sizes = _sizes(group)
    remembered = _tags(group).get(SIZES_TAG)
    if sizes.zero:  # already stopped: keep the tag (our earlier stop's real sizes) as it is, if any
        return _Expected(_ZERO, remembered)
    try:
        autoscaling.create_or_update_tags(Tags=[_tag(name, sizes.to_tag())])
    except ClientError as err:
        return f"sizes not recorded, group left running: {error_text(err)}"
    try:
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=0, DesiredCapacity=0)
    except ClientError as err:
        return f"sizes recorded in {SIZES_TAG}, but not scaled to zero: {error_text(err)}"
    return _Expected(_ZERO, sizes.to_tag())


def _start(autoscaling: Any, name: str, group: Mapping[str, Any]) -> _Expected | str:
    """Restore the remembered sizes, then drop the tag; what the group must read back as, or why it failed."""
    remembered = _tags(group).get(SIZES_TAG)
    if remembered is None:
        return f"sizes to restore unknown: tag {SIZES_TAG} missing"
    try:
        sizes = GroupSizes.from_tag(remembered)
    except ValueError as err:
        return f"sizes to restore unknown: tag {SIZES_TAG} unreadable ({err})"
    try:
        autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=sizes.min, MaxSize=sizes.max, DesiredCapacity=sizes.desired
        )
    except ClientError as err:
        return f"not restored to {sizes.to_tag()}: {error_text(err)}"
    try:
        autoscaling.delete_tags(Tags=[_tag(name, remembered)])
    except ClientError as err:
        return f"restored to {sizes.to_tag()}, but tag {SIZES_TAG} not removed: {error_text(err)}"
    return _Expected(sizes, None)


def _verify(action: Action, wanted: _Expected, group: Mapping[str, Any] | ClientError | None) -> Outcome:
    if isinstance(group, ClientError):
        return Outcome(action, False, error=f"could not verify: {error_text(group)}")
    if group is None:
        return Outcome(action, False, error=f"Auto Scaling group {action.resource} not found when verifying")
    sizes, tag = _sizes(group), _tags(group).get(SIZES_TAG)
    after: dict[str, Any] = sizes.to_json()
    if tag is not None:
        after["remembered"] = _readable(tag)
    if sizes != wanted.sizes:
        return Outcome(action, False, after, f"sizes read back {sizes.to_tag()}, expected {wanted.sizes.to_tag()}")
    if tag != wanted.tag:
        expected = f"{wanted.tag!r}" if wanted.tag is not None else "no tag"
        return Outcome(action, False, after, f"tag {SIZES_TAG} reads {tag!r}, expected {expected}")
    return Outcome(action, True, after)


def _describe(autoscaling: Any, names: Sequence[str]) -> dict[str, Mapping[str, Any] | ClientError]:
    """Each named group as DescribeAutoScalingGroups gives it (absent: no such group), or the call's error."""
    found: dict[str, Mapping[str, Any] | ClientError] = {}
    for batch in in_batches(names, DESCRIBE_BATCH):
        try:
            pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
                AutoScalingGroupNames=batch, PaginationConfig={"PageSize": 100}
            )
            found.update((g["AutoScalingGroupName"], g) for page in pages for g in page["AutoScalingGroups"])
        except ClientError as err:
            found.update(dict.fromkeys(batch, err))
    return found


def _readable(tag: str) -> dict[str, int] | str:
    try:
        return GroupSizes.from_tag(tag).to_json()
    except ValueError:
        return tag


def _sizes(group: Mapping[str, Any]) -> GroupSizes:
    return GroupSizes(int(group["MinSize"]), int(group["DesiredCapacity"]), int(group["MaxSize"]))


def _tags(group: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in group.get("Tags", ())}


def _tag(name: str, value: str) -> dict[str, Any]:
    return {
        "ResourceId": name,
        "ResourceType": "auto-scaling-group",
        "Key": SIZES_TAG,
        "Value": value,
        "PropagateAtLaunch": False,
    }
