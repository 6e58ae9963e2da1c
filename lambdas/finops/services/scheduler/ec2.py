"""Stop, hibernate and start EC2 instances in batches, then verify each by reading it again.

StopInstances / StartInstances take up to ``BATCH_SIZE`` ids per call (hibernations are their own batches, with
``Hibernate=True``). A failed batch is bisected to the instance(s) it failed for; the others go through.

Verification reads the instances back (DescribeInstances, same batches). A stop is done when the instance is
stopping or stopped. A start is done only when the instance is **running**: EC2 accepts StartInstances and the
instance then sits in ``pending`` and can fall back to ``stopped`` with a state reason
(``Server.InsufficientInstanceCapacity``, ``Client.InvalidKMSKey.InvalidState``); that is a failed start, naming
the reason. So the starts are polled every ``POLL_SECONDS`` until each is running or has failed, within
``max_wait_seconds``.

Still ``pending`` when the budget ends is reported as **not verified, ok=False** ("not running after 60 s (state
pending)"), never as started: the digest then says what we know, the run's failure makes someone look, and the
next run's fresh read shows whether it came up (the planner does not start a running instance again). A stopped
instance whose state reason is still our own stop (``Client.UserInitiatedShutdown``) is read as not yet updated
(DescribeInstances is eventually consistent) and polled like a pending one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from finops.aws.batch import bisect, in_batches
from finops.aws.errors import error_text
from finops.engine.model import Action, Outcome

PERMISSIONS: tuple[str, ...] = (
    "ec2:DescribeInstances",
    "ec2:StartInstances",
    "ec2:StopInstances",
    # StartInstances of an instance with an EBS volume encrypted by a customer managed KMS key: EC2 creates a grant
    # on the key as the caller. Granted only with the condition kms:GrantIsForAWSResource (for EC2's use alone).
    "kms:CreateGrant",
)
VERBS = ("stop", "hibernate", "start")
BATCH_SIZE = 50  # ids per StopInstances / StartInstances / DescribeInstances call
POLL_SECONDS = 5.0

_STOPS = ("stop", "hibernate")
_OWN_STOP_REASONS = ("", "Client.UserInitiatedShutdown", "Client.UserInitiatedHibernate")


@dataclass(frozen=True, slots=True)
class _Verdict:
    ok: bool
    after: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    def outcome(self, action: Action) -> Outcome:
        return Outcome(action, self.ok, self.after, self.error)


def apply(
    ec2: Any,
    actions: Sequence[Action],
    *,
    sleep: Callable[[float], None],
    max_wait_seconds: float = 60.0,
) -> list[Outcome]:
    """Carry out ``actions`` (kind ``ec2:instance``) and verify each; one outcome per action, in order."""
    by_id = _by_instance(actions)
    verdicts: dict[str, _Verdict] = {}
    accepted: dict[str, str] = {}  # instance id -> verb, for what the API took
    for verb in VERBS:
        ids = [instance for instance, action in by_id.items() if action.action == verb]
        for batch in in_batches(ids, BATCH_SIZE):
            result = bisect(batch, _call(ec2, verb))
            accepted.update((instance, verb) for done, _ in result.succeeded for instance in done)
            verdicts.update((instance, _Verdict(False, error=error_text(err))) for instance, err in result.failed)
    verdicts.update(_verify(ec2, accepted, sleep=sleep, max_wait_seconds=max_wait_seconds))
    return [verdicts[action.resource].outcome(action) for action in actions]


def _by_instance(actions: Sequence[Action]) -> dict[str, Action]:
    by_id: dict[str, Action] = {}
    for action in actions:
        if action.kind != "ec2:instance" or action.action not in VERBS:
            raise ValueError(f"not an EC2 instance action: {action.kind} {action.action}")
        if action.resource in by_id:
            raise ValueError(f"two actions for {action.resource} in one plan")
        by_id[action.resource] = action
    return by_id


def _call(ec2: Any, verb: str) -> Callable[[list[str]], Any]:
    if verb == "start":
        return lambda ids: ec2.start_instances(InstanceIds=ids)
    return lambda ids: ec2.stop_instances(InstanceIds=ids, Hibernate=verb == "hibernate")


def _verify(
    ec2: Any, accepted: Mapping[str, str], *, sleep: Callable[[float], None], max_wait_seconds: float
) -> dict[str, _Verdict]:
    """Read the accepted instances back until each has settled (done or failed) or the wait budget is spent."""
    verdicts: dict[str, _Verdict] = {}
    unsettled = dict(accepted)
    last_seen: dict[str, Mapping[str, Any]] = {}
    waited = 0.0
    while True:
        for instance_id, described in _describe(ec2, list(unsettled)).items():
            if isinstance(described, ClientError):
                verdicts[instance_id] = _Verdict(False, error=f"could not verify: {error_text(described)}")
                del unsettled[instance_id]
                continue
            last_seen[instance_id] = described
            verdict = _judge(unsettled[instance_id], described)
            if verdict is not None:
                verdicts[instance_id] = verdict
                del unsettled[instance_id]
        if not unsettled or waited >= max_wait_seconds:
            break
        step = min(POLL_SECONDS, max_wait_seconds - waited)
        sleep(step)
        waited += step
    for instance_id, verb in unsettled.items():
        state = str(last_seen.get(instance_id, {}).get("State", {}).get("Name", "not returned by DescribeInstances"))
        wanted = "running" if verb == "start" else "stopping or stopped"
        error = f"not {wanted} after {max_wait_seconds:g} s (state {state})"
        verdicts[instance_id] = _Verdict(False, {"state": state}, error)
    return verdicts


def _describe(ec2: Any, ids: Sequence[str]) -> dict[str, Mapping[str, Any] | ClientError]:
    """Each id's DescribeInstances entry, or the error DescribeInstances gave for it alone."""
    found: dict[str, Mapping[str, Any] | ClientError] = {}
    for batch in in_batches(ids, BATCH_SIZE):
        result = bisect(batch, lambda part: ec2.describe_instances(InstanceIds=part))
        for _, response in result.succeeded:
            for reservation in response["Reservations"]:
                found.update((i["InstanceId"], i) for i in reservation["Instances"])
        found.update(result.failed)
    return found


def _judge(verb: str, instance: Mapping[str, Any]) -> _Verdict | None:
    """Done, failed, or None: not settled yet (look again)."""
    state = str(instance["State"]["Name"])
    reason = instance.get("StateReason") or {}
    code, message = str(reason.get("Code", "")), str(reason.get("Message", ""))
    after: dict[str, Any] = {"state": state}
    if code:
        after["state_reason"] = code
    if state in ("shutting-down", "terminated"):
        return _Verdict(False, after, f"instance is {state}")
    if verb in _STOPS:
        return _Verdict(True, after) if state in ("stopping", "stopped") else None
    if state == "running":
        return _Verdict(True, {"state": state})
    if state in ("stopping", "stopped") and code not in _OWN_STOP_REASONS:
        why = message if message.startswith(code) else f"{code}: {message}"
        return _Verdict(False, after, f"start accepted, then back to {state}: {why}")
    return None  # pending, or stopped with our own stop's reason: DescribeInstances has not caught up yet
