"""Carry out an auto-tagger plan in one target: add the planned tags, never overwriting one, and verify each.

Just before tagging, the resources' tags are read again: a key that appeared since the plan's read (the creator
tagging by hand, another tool) is left as it is, and only what is still missing is added. EC2 resources take one
``CreateTags`` call per distinct set of tags (a failed batch is bisected to the resources it failed for); each RDS
instance or cluster takes one ``AddTagsToResource``. Each resource is then read back: it counts as tagged only when
every added tag is there with its value. API errors are outcomes, never exceptions; a plan holding a key the
auto-tagger may not write, or an action it does not take, is a bug and raises before anything is called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from finops.aws.batch import bisect, in_batches
from finops.aws.errors import error_text
from finops.engine.model import Action, Outcome
from finops.rules.auto_tag import EC2_TYPES, RDS_TYPES
from finops.services.auto_tagger.inventory import current_tags

PERMISSIONS: tuple[str, ...] = ("ec2:CreateTags", "rds:AddTagsToResource")
TAG = "tag"
TAG_BATCH = 500  # resources per CreateTags call
AWS_ERRORS = (ClientError, BotoCoreError)

logger = Logger(child=True)


def validate(actions: Sequence[Action], allowed_keys: frozenset[str]) -> None:
    """Refuse a plan the auto-tagger must never carry out: another action, another resource type, a key it does not
    own (the protect tag above all), or one resource twice."""
    seen: set[tuple[str, str]] = set()
    for action in actions:
        if action.action != TAG or action.kind not in (*EC2_TYPES, *RDS_TYPES):
            raise ValueError(f"the auto-tagger cannot {action.action!r} a {action.kind!r} ({action.resource})")
        keys = set(planned_tags(action))
        if not keys or not keys <= allowed_keys:
            raise ValueError(
                f"{action.resource}: the auto-tagger writes only {sorted(allowed_keys)}, not {sorted(keys)}"
            )
        if (action.kind, action.resource) in seen:
            raise ValueError(f"two actions for {action.resource} in one plan")
        seen.add((action.kind, action.resource))


def planned_tags(action: Action) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(action.details.get("tags") or {}).items()}


def _ref(action: Action) -> tuple[str, str, str | None]:
    arn = action.details.get("arn")
    return action.kind, action.resource, str(arn) if arn else None


def apply(scope: Any, actions: Sequence[Action], *, allowed_keys: frozenset[str]) -> list[Outcome]:
    """One verified outcome per action, in the order given."""
    validate(actions, allowed_keys)
    if not actions:
        return []
    outcomes: dict[int, Outcome] = {}
    try:
        now = current_tags(scope, [_ref(a) for a in actions])
    except AWS_ERRORS as exc:
        return [Outcome(a, False, error=f"not tagged: the fresh read failed: {error_text(exc)}") for a in actions]
    to_add: dict[int, dict[str, str]] = {}
    for i, action in enumerate(actions):
        tags = now.get((action.kind, action.resource))
        if tags is None:
            outcomes[i] = Outcome(action, False, error="not tagged: it no longer exists")
            continue
        present = {k.strip().lower() for k in tags}
        add = {k: v for k, v in planned_tags(action).items() if k.strip().lower() not in present}
        if not add:
            outcomes[i] = Outcome(action, True, {"tags": {}, "note": "every planned tag was set meanwhile: kept"})
        else:
            to_add[i] = add
    failed = {**_tag_ec2(scope, actions, to_add), **_tag_rds(scope, actions, to_add)}
    outcomes.update({i: Outcome(actions[i], False, error=f"not tagged: {why}") for i, why in failed.items()})
    tagged = [i for i in to_add if i not in failed]
    outcomes.update(_verify(scope, actions, {i: to_add[i] for i in tagged}))
    result = [outcomes[i] for i in range(len(actions))]
    for outcome in result:
        if not outcome.ok:
            logger.warning(
                "auto-tag failed",
                extra={**scope.log_keys(), "resource": outcome.action.resource, "error": outcome.error},
            )
    return result


def _tag_ec2(scope: Any, actions: Sequence[Action], to_add: Mapping[int, dict[str, str]]) -> dict[int, str]:
    """CreateTags for the EC2 resources, grouped by identical tags; the index of each that failed, with its error."""
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, add in to_add.items():
        if actions[i].kind in EC2_TYPES:
            groups.setdefault(tuple(sorted(add.items())), []).append(i)
    if not groups:
        return {}
    ec2 = scope.client("ec2")
    failed: dict[int, str] = {}
    for tags, indexes in groups.items():
        tag_list = [{"Key": k, "Value": v} for k, v in tags]

        def create(part: list[int], tag_list: list[dict[str, str]] = tag_list) -> Any:
            return ec2.create_tags(Resources=[actions[i].resource for i in part], Tags=tag_list)

        for batch in in_batches(indexes, TAG_BATCH):
            try:
                done = bisect(batch, create)
            except BotoCoreError as exc:  # a timeout: these resources' outcome is unknown; the check below reads
                failed.update(dict.fromkeys(batch, error_text(exc)))
                continue
            failed.update({i: error_text(err) for i, err in done.failed})
    return failed


def _tag_rds(scope: Any, actions: Sequence[Action], to_add: Mapping[int, dict[str, str]]) -> dict[int, str]:
    indexes = [i for i in to_add if actions[i].kind in RDS_TYPES]
    if not indexes:
        return {}
    rds = scope.client("rds")
    failed: dict[int, str] = {}
    for i in indexes:
        arn = actions[i].details.get("arn")
        if not arn:
            failed[i] = "no ARN to tag"
            continue
        try:
            rds.add_tags_to_resource(ResourceName=str(arn), Tags=[{"Key": k, "Value": v} for k, v in to_add[i].items()])
        except AWS_ERRORS as exc:
            failed[i] = error_text(exc)
    return failed


def _verify(scope: Any, actions: Sequence[Action], added: Mapping[int, dict[str, str]]) -> dict[int, Outcome]:
    """Read every tagged resource back: tagged only when each added tag is there with its value."""
    if not added:
        return {}
    try:
        now = current_tags(scope, [_ref(actions[i]) for i in added])
    except AWS_ERRORS as exc:
        why = f"tagging not verified: the read-back failed: {error_text(exc)}"
        return {i: Outcome(actions[i], False, {"tags": add}, error=why) for i, add in added.items()}
    outcomes = {}
    for i, add in added.items():
        tags = now.get((actions[i].kind, actions[i].resource), {})
        wrong = sorted(k for k, v in add.items() if tags.get(k) != v)
        outcomes[i] = (
            Outcome(actions[i], True, {"tags": add})
            if not wrong
            else Outcome(actions[i], False, {"tags": add}, error=f"tagging not verified: {wrong} not found as written")
        )
    return outcomes
